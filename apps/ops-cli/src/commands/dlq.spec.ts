// What `hotdash-ops dlq` prints, without a gateway: a page of dead letters as a table, one dead
// letter's error, headers and envelope. The commands against the platform, their usage errors and
// exit codes: e2e/ops-dlq.e2e-spec.ts.
import type { DeadLetterDetail, DeadLetterList, DeadLetterSummary } from '@hotdash/contracts';
import { deadLetterListText, deadLetterText } from './dlq';

const ID = 'hotdash.tickets.dlq/3/1742';
const summary: DeadLetterSummary = {
  id: ID,
  topic: 'hotdash.tickets.dlq',
  partition: 3,
  offset: '1742',
  originalTopic: 'hotdash.tickets',
  eventId: '01900000-0000-7000-8000-0000000000e1',
  eventType: 'ticket.received',
  tenantId: '01900000-0000-7000-8000-0000000000a1',
  consumer: 'drafts',
  code: 'handler-failed',
  attempts: 5,
  failedAt: '2026-12-06T00:10:00.000Z',
  replayedFrom: null,
  replayed: false,
  lastReplayedAt: null,
  replays: 0,
};

it('lists dead letters as a table, with whether each was replayed and how to get the next page', () => {
  const list: DeadLetterList = { items: [summary, { ...summary, id: 'hotdash.tickets.dlq/0/7', replayed: true, replays: 2 }], nextCursor: 'abc', scanned: 9 };
  const text = deadLetterListText(list);
  expect(text).toMatch(/^ID +FAILED AT +EVENT +TENANT +CONSUMER +CODE +ATTEMPTS +REPLAYED\n/);
  expect(text).toMatch(new RegExp(`${ID.replace(/\./g, '\\.')} +2026-12-06T00:10:00.000Z +ticket\\.received +${summary.tenantId} +drafts +handler-failed +5 +no\\n`));
  expect(text).toMatch(/hotdash\.tickets\.dlq\/0\/7 .* yes \(2\)\n/);
  expect(text).toContain('--cursor abc');
  expect(deadLetterListText({ items: [], nextCursor: null, scanned: 0 })).toBe('No dead letters.\n');
  expect(deadLetterListText({ items: [], nextCursor: 'xyz', scanned: 5000 })).toContain('--cursor xyz');
});

it('shows a dead letter’s error, headers and envelope as written', () => {
  const detail: DeadLetterDetail = {
    ...summary,
    replayedFrom: 'hotdash.tickets.dlq/1/2',
    key: summary.tenantId,
    headers: { 'hotdash-dlq-error': 'boom\nsecond line', 'hotdash-event-id': summary.eventId! },
    error: 'boom',
    envelope: { id: summary.eventId, payload: { body: { v: 1, ct: 'ciphertext' } } },
    value: null,
    replayHistory: [{ actor: 'ops:ada', at: '2026-12-06T00:20:00.000Z', forced: true }],
  };
  const text = deadLetterText(detail);
  expect(text).toMatch(new RegExp(`^Dead letter ${ID.replace(/\./g, '\\.')}\n`));
  expect(text).toContain('error:      handler-failed: boom');
  expect(text).toContain('a replay of hotdash.tickets.dlq/1/2');
  expect(text).toContain('replayed:   2026-12-06T00:20:00.000Z by ops:ada (forced)');
  expect(text).toContain('  hotdash-dlq-error: boom second line\n');
  expect(text).toContain('"ct": "ciphertext"');
  expect(deadLetterText({ ...detail, envelope: null, value: 'not json' })).toContain('Value (not JSON):\nnot json');
});

