// One meaning per event (issue 13 item 5): an event is a fact its producer states for others. A lib
// that handled an event it publishes itself would be using Kafka as a to-do list (the ticket that
// drafts stored and then "received" again), so every lib's handlers and publishers are read here,
// and the scanner is shown to catch both forms on a made-up source.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { libSources, REPO_ROOT } from '@hotdash/testing';

const ROOT = REPO_ROOT;

/** Event constants (`TicketEvents.RECEIVED`) a source publishes and handles. */
export function eventsOf(source: string): { published: Set<string>; handled: Set<string> } {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const published = new Set([...code.matchAll(/\b(?:publishInTx|buildEnvelope)\(\s*(?:[\w.]+,\s*)?(\w+Events\.\w+)/g)].map((m) => m[1]!));
  const handled = new Set([...code.matchAll(/@EventPattern\(\s*(\w+Events\.\w+)/g)].map((m) => m[1]!));
  return { published, handled };
}

it('lets no lib handle an event it publishes itself', () => {
  const own: string[] = [];
  let handlers = 0;
  for (const [lib, files] of libSources()) {
    const published = new Set<string>();
    const handled = new Map<string, string>();
    for (const file of files) {
      const e = eventsOf(readFileSync(file, 'utf8'));
      e.published.forEach((t) => published.add(t));
      e.handled.forEach((t) => handled.set(t, relative(ROOT, file)));
    }
    handlers += handled.size;
    for (const [type, file] of handled) if (published.has(type)) own.push(`${lib} handles ${type}, which it publishes (${file})`);
  }
  expect(handlers).toBeGreaterThan(10); // the scan did read the handlers
  expect(own).toEqual([]);
});

it('catches a lib publishing and handling the same event on a made-up source', () => {
  const source = `
    // @EventPattern(TicketEvents.SUBMITTED)   (a comment: not a handler)
    @EventPattern(TicketEvents.RECEIVED)
    async onTicket() {}
    await publishInTx(tx, TicketEvents.RECEIVED, received, meta);
    const e = buildEnvelope(DraftEvents.GENERATED, payload, meta);
  `;
  const { published, handled } = eventsOf(source);
  expect([...published].sort()).toEqual(['DraftEvents.GENERATED', 'TicketEvents.RECEIVED']);
  expect([...handled]).toEqual(['TicketEvents.RECEIVED']);
});
