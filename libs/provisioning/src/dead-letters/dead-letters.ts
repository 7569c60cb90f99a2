import { Inject, Injectable, Logger } from '@nestjs/common';
import { sql } from 'kysely';
import {
  DLQ_REPLAY_ACTION,
  DLQ_TOPICS,
  DlqProblems,
  listDeadLettersQuery,
  parseDeadLetterId,
  replayDeadLetterBody,
  replayDeadLettersBody,
  type DeadLetterDetail,
  type DeadLetterFilter,
  type DeadLetterList,
  type DeadLetterRef,
  type DeadLetterReplayResult,
  type DeadLetterReplays,
  type DeadLetterSummary,
} from '@hotdash/contracts';
import { ControlDatabase } from '@hotdash/platform-db';
import { DeadLetterReader, deadLetterTopicOf, decodeCursor, encodeCursor, matchesFilter, type DeadLetterRecord } from '@hotdash/platform-messaging';
import { parseInput, ProblemException } from '@hotdash/platform-http';
import { OpsActions } from '../shards.repository';
import { DEAD_LETTER_READER } from './dead-letters.tokens';

const DEFAULT_LIMIT = 50;
const DEFAULT_REPLAY_MAX = 100;
/** A set replay by filter reads at most this many pages of records (MAX_SCANNED each); `truncated` says there is more. */
const MAX_FILTER_PAGES = 20;

const problem = (status: number, code: string, title: string, detail: string) => new ProblemException(status, code, title, detail);

interface ReplayRow {
  target: string;
  actor: string;
  at: Date;
  detail: unknown;
}

/**
 * Dead letters for the ops team (docs/operations.md "Dead letters"): what the consumers gave up on,
 * read from the `<topic>.dlq` topics through DeadLetterReader (no consumer group, nothing
 * committed), and replays that send a dead letter's record back to its original topic, where every
 * consumer's inbox skips what it already applied. Each replay is an ops action (ops_actions:
 * `dlq.replay`, the dead letter's id), which is how a list shows "replayed" and a second replay is
 * refused unless forced. Shapes and codes: libs/contracts/src/dlq.api.ts.
 */
@Injectable()
export class DeadLetters {
  private readonly logger = new Logger('dead-letters');

  constructor(
    @Inject(DEAD_LETTER_READER) private readonly reader: DeadLetterReader,
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(OpsActions) private readonly actions: OpsActions,
  ) {}

  async list(query: unknown): Promise<DeadLetterList> {
    const q = parseInput(listDeadLettersQuery, query ?? {});
    const topics = this.topicsOf(q);
    const position = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    if (q.cursor !== undefined && !position) throw problem(400, DlqProblems.INVALID_CURSOR, 'Invalid cursor', 'cursor must be the nextCursor of a previous page of this listing.');
    const page = await this.kafka(() => this.reader.list(topics, (d) => matchesFilter(d, q), q.limit ?? DEFAULT_LIMIT, position));
    const replays = await this.replaysOf(page.items.map((d) => d.id));
    return { items: page.items.map((d) => this.summary(d, replays.get(d.id) ?? [])), nextCursor: page.next ? encodeCursor(page.next) : null, scanned: page.scanned };
  }

  async show(ref: DeadLetterRef): Promise<DeadLetterDetail> {
    const d = await this.find(ref);
    const replays = (await this.replaysOf([d.id])).get(d.id) ?? [];
    const value = d.record.value.toString('utf8');
    let envelope: unknown = null;
    try {
      envelope = JSON.parse(value);
    } catch {
      // not JSON (a malformed-json dead letter): shown as text in `value`
    }
    return {
      ...this.summary(d, replays),
      key: d.record.key,
      headers: d.record.headers,
      error: d.error,
      envelope,
      value: envelope === null ? value : null,
      replayHistory: replays.map((r) => ({ actor: r.actor, at: r.at.toISOString(), forced: forcedOf(r.detail) })),
    };
  }

  /** Replays one dead letter: 409 when it was replayed already and `force` is not given. */
  async replayOne(ref: DeadLetterRef, body: unknown, actor: string): Promise<DeadLetterReplayResult> {
    const { force } = parseInput(replayDeadLetterBody, body ?? {});
    const d = await this.find(ref);
    const result = await this.replay(d, actor, force === true, false);
    if (result.outcome === 'not-replayable')
      throw problem(422, DlqProblems.NOT_REPLAYABLE, 'Dead letter not replayable', `Dead letter ${d.id} does not name the platform topic it came from (header hotdash-dlq-original-topic): it cannot be replayed.`);
    if (result.outcome === 'already-replayed') {
      const last = ((await this.replaysOf([d.id])).get(d.id) ?? []).at(-1);
      throw problem(409, DlqProblems.ALREADY_REPLAYED, 'Already replayed', `Dead letter ${d.id} was replayed${last ? ` at ${last.at.toISOString()} by ${last.actor}` : ''}. Replay it again with force (\`hotdash-ops dlq replay ${d.id} --force\`): consumers that applied it skip it.`);
    }
    return result;
  }

  /** Replays the dead letters named, or those matching a filter (at most `max`, newest first); a dry run only says what would happen. */
  async replayMany(body: unknown, actor: string): Promise<DeadLetterReplays> {
    const b = parseInput(replayDeadLettersBody, body ?? {});
    const force = b.force === true;
    const targets: (DeadLetterRecord | { id: string })[] = [];
    let truncated = false;
    if (b.ids) {
      for (const id of [...new Set(b.ids)]) {
        const ref = parseDeadLetterId(id);
        if (!ref) throw problem(400, DlqProblems.INVALID_ID, 'Invalid dead letter id', `${id} is not a dead letter's id (<dlq topic>/<partition>/<offset>, a topic of ${DLQ_TOPICS.join(', ')}).`);
        targets.push((await this.kafka(() => this.reader.get(ref))) ?? { id });
      }
    } else {
      const f = b.filter ?? {};
      const topics = this.topicsOf(f);
      const max = b.max ?? DEFAULT_REPLAY_MAX;
      let position: Record<string, string> | undefined;
      let pages = 0;
      do {
        const page = await this.kafka(() => this.reader.list(topics, (d) => matchesFilter(d, f), max + 1 - targets.length, position));
        targets.push(...page.items);
        position = page.next ?? undefined;
      } while (position && targets.length <= max && ++pages < MAX_FILTER_PAGES);
      // More matched than max, or the scan stopped (MAX_FILTER_PAGES pages of records read) with more to read.
      truncated = targets.length > max || position !== undefined;
      targets.length = Math.min(targets.length, max);
      targets.reverse(); // replayed oldest first: a tenant's events go back in the order they failed
    }
    const results: DeadLetterReplayResult[] = [];
    for (const t of targets) {
      if (!('record' in t)) results.push({ id: t.id, outcome: 'not-found', to: null, eventId: null, eventType: null, tenantId: null, forced: force });
      else results.push(await this.replay(t, actor, force, b.dryRun));
    }
    return { dryRun: b.dryRun, results, truncated };
  }

  /**
   * One replay, serialized per dead letter (a transaction-scoped advisory lock on its id): the check
   * for an earlier replay, the send, and the ops action. Sent but not recorded (the database failed
   * after Kafka acknowledged) is harmless: a second replay is skipped by the inboxes.
   */
  private async replay(d: DeadLetterRecord, actor: string, force: boolean, dryRun: boolean): Promise<DeadLetterReplayResult> {
    const base = { id: d.id, eventId: d.eventId, eventType: d.eventType, tenantId: d.tenantId, forced: force };
    const to = this.reader.replayTarget(d);
    if (!to) return { ...base, outcome: 'not-replayable', to: null };
    if (dryRun) {
      const replayed = ((await this.replaysOf([d.id])).get(d.id) ?? []).length > 0;
      return { ...base, outcome: replayed && !force ? 'already-replayed' : 'would-replay', to };
    }
    return this.control.withControl(async (tx) => {
      await sql`select pg_advisory_xact_lock(hashtextextended(${`dlq.replay:${d.id}`}, 0))`.execute(tx.db);
      const earlier = await tx.db.selectFrom('ops_actions').select('id').where('action', '=', DLQ_REPLAY_ACTION).where('target', '=', d.id).where('outcome', '=', 'done').limit(1).executeTakeFirst();
      if (earlier && !force) return { ...base, outcome: 'already-replayed' as const, to };
      await this.kafka(() => this.reader.replay(d));
      await this.actions.record(tx.db, { actor, action: DLQ_REPLAY_ACTION, target: d.id, outcome: 'done', detail: { to, eventId: d.eventId, eventType: d.eventType, tenantId: d.tenantId, consumer: d.consumer, code: d.code, forced: force } });
      this.logger.log(JSON.stringify({ replayed: d.id, to, eventId: d.eventId, tenantId: d.tenantId, forced: force }));
      return { ...base, outcome: 'replayed' as const, to };
    });
  }

  private async find(ref: DeadLetterRef): Promise<DeadLetterRecord> {
    const d = await this.kafka(() => this.reader.get(ref));
    if (!d) throw problem(404, DlqProblems.NOT_FOUND, 'Dead letter not found', `No dead letter at ${ref.topic}/${ref.partition}/${ref.offset} (never written, or removed by the topic's retention).`);
    return d;
  }

  /** The dead-letter topics a filter reads. */
  private topicsOf(f: DeadLetterFilter): readonly string[] {
    if (f.topic === undefined) return DLQ_TOPICS;
    const topic = deadLetterTopicOf(f.topic);
    if (!topic) throw problem(400, DlqProblems.UNKNOWN_TOPIC, 'Unknown topic', `${f.topic} is not a platform topic; give one of ${DLQ_TOPICS.join(', ')} (or the topic without .dlq).`);
    return [topic];
  }

  /** The replays recorded for these dead letters, oldest first per id. */
  private async replaysOf(ids: string[]): Promise<Map<string, ReplayRow[]>> {
    const out = new Map<string, ReplayRow[]>();
    if (ids.length === 0) return out;
    const rows = await this.control.db
      .selectFrom('ops_actions')
      .select(['target', 'actor', 'at', 'detail'])
      .where('action', '=', DLQ_REPLAY_ACTION)
      .where('outcome', '=', 'done')
      .where('target', 'in', ids)
      .orderBy('at')
      .execute();
    for (const r of rows) out.set(r.target, [...(out.get(r.target) ?? []), r as ReplayRow]);
    return out;
  }

  private summary(d: DeadLetterRecord, replays: ReplayRow[]): DeadLetterSummary {
    return {
      id: d.id,
      topic: d.ref.topic,
      partition: d.ref.partition,
      offset: d.ref.offset,
      originalTopic: d.originalTopic,
      eventId: d.eventId,
      eventType: d.eventType,
      tenantId: d.tenantId,
      consumer: d.consumer,
      code: d.code,
      attempts: d.attempts,
      failedAt: d.failedAt,
      replayedFrom: d.replayedFrom,
      replayed: replays.length > 0,
      lastReplayedAt: replays.at(-1)?.at.toISOString() ?? null,
      replays: replays.length,
    };
  }

  /** Runs a Kafka read or write; a failure is a 503 problem (kafka-unavailable) with the client's message. */
  private async kafka<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ProblemException) throw err;
      this.logger.warn(`Kafka failed: ${(err as Error).message}`);
      throw problem(503, DlqProblems.KAFKA_UNAVAILABLE, 'Kafka unavailable', `Kafka could not be read or written: ${(err as Error).message}`);
    }
  }
}

function forcedOf(detail: unknown): boolean {
  const d = typeof detail === 'string' ? (JSON.parse(detail) as unknown) : detail;
  return typeof d === 'object' && d !== null && (d as { forced?: unknown }).forced === true;
}
