// Dead letters as an ops API (gateway: GET /ops/dead-letters, GET /ops/dead-letters/{topic}/{partition}/{offset},
// POST …/{offset}/replay and POST /ops/dead-letters/replays; served by provisioning): the queries,
// bodies, answers and stable problem codes, one definition for the service, the gateway's OpenAPI
// document and `hotdash-ops dlq`. What a dead letter is: libs/platform/messaging/src/event-transport.ts
// (a record a consumer gave up on, on `<topic>.dlq` with its original headers and DlqHeaders); the
// procedure: docs/operations.md ("Dead letters").
import { z } from 'zod';
import { uuidSchema } from './envelope';
import { ALL_TOPICS, deadLetterTopic } from './topics';

/** Header a replayed record carries: the id (`<dlq topic>/<partition>/<offset>`) of the dead letter it was replayed from. */
export const REPLAYED_FROM_HEADER = 'hotdash-replayed-from';

/** The dead-letter topics the ops API reads (one per platform topic); no other topic is ever read through it. */
export const DLQ_TOPICS: readonly string[] = ALL_TOPICS.map(deadLetterTopic);

/** The ops action recorded for each replay (ops_actions.action; target: the dead letter's id). */
export const DLQ_REPLAY_ACTION = 'dlq.replay';

/** A dead letter's id: `<dlq topic>/<partition>/<offset>`, e.g. `hotdash.tenants.dlq/0/42`. */
export const DEAD_LETTER_ID = /^(hotdash\.[a-z]+\.dlq)\/(\d{1,5})\/(\d{1,19})$/;

export interface DeadLetterRef {
  topic: string;
  partition: number;
  offset: string;
}

/** The parts of a dead letter's id, or undefined when it is not one (or names a topic that is not a dead-letter topic). */
export function parseDeadLetterId(id: string): DeadLetterRef | undefined {
  const m = DEAD_LETTER_ID.exec(id);
  if (!m || !DLQ_TOPICS.includes(m[1]!)) return undefined;
  return { topic: m[1]!, partition: Number(m[2]), offset: BigInt(m[3]!).toString() };
}

export const deadLetterIdOf = (r: DeadLetterRef): string => `${r.topic}/${r.partition}/${r.offset}`;

/** Stable codes of the dead-letter API's problems (RFC 9457 `code`). Every refusal changes nothing. */
export const DlqProblems = {
  /** 400: not a dead letter's id, or a topic that is not a dead-letter topic. */
  INVALID_ID: 'invalid-dead-letter-id',
  /** 400: `topic` names no platform topic (give `hotdash.tickets` or `hotdash.tickets.dlq`). */
  UNKNOWN_TOPIC: 'unknown-topic',
  /** 400: the cursor is not one this API handed out. */
  INVALID_CURSOR: 'invalid-cursor',
  /** 404: no dead letter at this topic, partition and offset (never written, or removed by retention). */
  NOT_FOUND: 'dead-letter-not-found',
  /** 409: this dead letter was replayed already (when and by whom in the detail): replay it again with force. */
  ALREADY_REPLAYED: 'dead-letter-already-replayed',
  /** 422: the record does not say where it came from (no original-topic header naming a platform topic): it cannot be replayed. */
  NOT_REPLAYABLE: 'dead-letter-not-replayable',
  /** 503: Kafka could not be read or written. */
  KAFKA_UNAVAILABLE: 'kafka-unavailable',
} as const;
export type DlqProblemCode = (typeof DlqProblems)[keyof typeof DlqProblems];

const text = (name: string, max: number) => z.string().min(1, `${name} must not be empty`).max(max, `${name} must be at most ${max} characters`);

/** What selects dead letters: each given field must match (all of them when none is given). */
export const deadLetterFilter = z
  .object({
    /** A platform topic or its dead-letter topic (`hotdash.tickets` or `hotdash.tickets.dlq`); default every dead-letter topic. */
    topic: text('topic', 100).optional(),
    /** The consumer that gave up (its group name, e.g. `drafts`). */
    consumer: text('consumer', 200).optional(),
    /** The error code (handler-failed, unknown-tenant, invalid-envelope, invalid-payload, malformed-json, unknown-version, or a handler's own). */
    code: text('code', 100).optional(),
    /** The event's tenant. */
    tenant: uuidSchema.optional(),
  })
  .strict();
export type DeadLetterFilter = z.infer<typeof deadLetterFilter>;

/** GET /ops/dead-letters: the filter, a page size (default 50) and the cursor of the previous page. */
export const listDeadLettersQuery = deadLetterFilter
  .extend({
    limit: z.coerce.number().int().min(1).max(500).optional(),
    cursor: z.string().max(8000).optional(),
  })
  .strict();
export type ListDeadLettersQuery = z.infer<typeof listDeadLettersQuery>;

/** One dead letter in a list. Event fields are null when the record's headers do not carry them (a record that was not an event). */
export const deadLetterSummary = z.object({
  id: z.string(),
  topic: z.string(),
  partition: z.number().int(),
  offset: z.string(),
  /** Where it was consumed from (and where a replay sends it). */
  originalTopic: z.string().nullable(),
  eventId: z.string().nullable(),
  eventType: z.string().nullable(),
  tenantId: z.string().nullable(),
  consumer: z.string().nullable(),
  code: z.string().nullable(),
  attempts: z.number().int().nullable(),
  failedAt: z.string().nullable(),
  /** The dead letter this record was itself replayed from (it failed again after a replay). */
  replayedFrom: z.string().nullable(),
  /** Replayed through the ops API (ops_actions): when last, and how often. */
  replayed: z.boolean(),
  lastReplayedAt: z.string().nullable(),
  replays: z.number().int(),
});
export type DeadLetterSummary = z.infer<typeof deadLetterSummary>;

/** A page of dead letters, newest first (by failed-at across partitions and topics). */
export const deadLetterList = z.object({
  items: z.array(deadLetterSummary),
  /** Give it as `cursor` for the next page; null at the end. The page's view is fixed at the first page: newer dead letters show in a new listing. */
  nextCursor: z.string().nullable(),
  /** Records read to answer (a filter that matches little reads more; one page reads at most 5,000). */
  scanned: z.number().int(),
});
export type DeadLetterList = z.infer<typeof deadLetterList>;

/** One replay of a dead letter, as ops_actions recorded it. */
export const deadLetterReplayRecord = z.object({ actor: z.string(), at: z.string(), forced: z.boolean() });

/** GET /ops/dead-letters/{topic}/{partition}/{offset}: all of it. The envelope is as it was written: personal fields stay encrypted. */
export const deadLetterDetail = deadLetterSummary.extend({
  key: z.string().nullable(),
  /** Every header: the original ones and the hotdash-dlq-* ones. */
  headers: z.record(z.string(), z.string()),
  /** The consumer's error message. */
  error: z.string().nullable(),
  /** The record's value parsed as JSON (the event's envelope), or null when it is not JSON (then `value` holds it). */
  envelope: z.unknown().nullable(),
  value: z.string().nullable(),
  replayHistory: z.array(deadLetterReplayRecord),
});
export type DeadLetterDetail = z.infer<typeof deadLetterDetail>;

/** POST /ops/dead-letters/{topic}/{partition}/{offset}/replay: `force` replays a dead letter that was replayed already (the consumers' inboxes skip what they applied). */
export const replayDeadLetterBody = z.object({ force: z.boolean().optional() }).strict();
export type ReplayDeadLetterBody = z.infer<typeof replayDeadLetterBody>;

/** What became of one dead letter in a replay. */
export const DeadLetterReplayOutcomes = ['replayed', 'would-replay', 'already-replayed', 'not-replayable', 'not-found'] as const;
export type DeadLetterReplayOutcome = (typeof DeadLetterReplayOutcomes)[number];

export const deadLetterReplayResult = z.object({
  id: z.string(),
  outcome: z.enum(DeadLetterReplayOutcomes),
  /** The topic it was (or would be) sent to. */
  to: z.string().nullable(),
  eventId: z.string().nullable(),
  eventType: z.string().nullable(),
  tenantId: z.string().nullable(),
  forced: z.boolean(),
});
export type DeadLetterReplayResult = z.infer<typeof deadLetterReplayResult>;

/**
 * POST /ops/dead-letters/replays: replay the dead letters named by `ids`, or every one matching
 * `filter` (at most `max`, default 100, newest first). `dryRun` is required: true only lists what
 * would be replayed. Already-replayed ones are left out (outcome already-replayed) unless `force`.
 */
export const replayDeadLettersBody = z
  .object({
    ids: z.array(z.string().regex(DEAD_LETTER_ID, 'each id must be <dlq topic>/<partition>/<offset>')).min(1).max(500).optional(),
    filter: deadLetterFilter.optional(),
    dryRun: z.boolean({ message: 'dryRun must be true or false' }),
    force: z.boolean().optional(),
    max: z.number().int().min(1).max(1000).optional(),
  })
  .strict()
  .refine((b) => (b.ids === undefined) !== (b.filter === undefined), { message: 'give either ids or filter', path: ['ids'] });
export type ReplayDeadLettersBody = z.infer<typeof replayDeadLettersBody>;

export const deadLetterReplays = z.object({
  dryRun: z.boolean(),
  results: z.array(deadLetterReplayResult),
  /** The filter matched more than `max`: run again for the rest. */
  truncated: z.boolean(),
});
export type DeadLetterReplays = z.infer<typeof deadLetterReplays>;

/** Path parameters of one dead letter. */
export const deadLetterParams = z.object({ topic: z.string(), partition: z.string(), offset: z.string() });
