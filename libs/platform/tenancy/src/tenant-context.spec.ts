import { parseTenantId } from '@hotdash/contracts';
import { currentTenantContext, runInTenantContext, TenantContextMissingError, tryCurrentTenantContext } from './tenant-context';

const A = parseTenantId('01a2233e-13de-71a6-af01-2c9e62e66eb6');
const B = parseTenantId('01a2233e-13de-71a6-af01-2c9e62e66eb7');

describe('tenant context', () => {
  it('throws when read outside any context (fail closed)', () => {
    expect(() => currentTenantContext()).toThrow(TenantContextMissingError);
    expect(tryCurrentTenantContext()).toBeUndefined();
  });
  it('follows async work and never leaks between concurrent contexts', async () => {
    const seen = await Promise.all(
      [A, B, A, B].map((t, i) =>
        runInTenantContext({ tenantId: t, actorId: `u${i}`, correlationId: `c${i}` }, async () => {
          await new Promise((r) => setTimeout(r, 10 - i * 2));
          return currentTenantContext().tenantId;
        }),
      ),
    );
    expect(seen).toEqual([A, B, A, B]);
    expect(tryCurrentTenantContext()).toBeUndefined();
  });
  it('is frozen', () => {
    runInTenantContext({ tenantId: A, actorId: 'u', correlationId: 'c' }, () => {
      expect(() => ((currentTenantContext() as { tenantId: string }).tenantId = B)).toThrow();
    });
  });
});
