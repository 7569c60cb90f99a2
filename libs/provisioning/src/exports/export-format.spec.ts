import { randomBytes } from 'node:crypto';
import { finished } from 'node:stream/promises';
import { PassThrough } from 'node:stream';
import { parseTenantId } from '@hotdash/contracts';
import { ExportWriter } from './export-format';

describe('ExportWriter', () => {
  it('aborts a failed export without an unhandled stream error: the output is destroyed with the cause', async () => {
    const out = new PassThrough();
    out.resume();
    const ended = finished(out).then(
      () => 'finished',
      (e: Error) => e.message,
    );
    const writer = new ExportWriter(out, randomBytes(32), 'export-1');
    await writer.header({ id: 'export-1', kind: 'tenant', tenantId: parseTenantId('0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b'), createdAt: new Date(0).toISOString() });
    await writer.beginTable('tickets', { columns: ['id'], decrypted: {}, redacted: [] }, 1);
    writer.abort(new Error('snapshot transaction timed out'));
    // An 'error' with no listener on the gzip stream would surface here as an uncaught exception.
    await new Promise((r) => setImmediate(r));
    expect(await ended).toBe('snapshot transaction timed out');
    expect(out.destroyed).toBe(true);
  });
});
