import { DraftEvents, DraftingModelSettingsV1, MAX_CITED_PASSAGE, parseTenantId, SupportFields, TenantId } from '@hotdash/contracts';
import { isStoreUnavailable, type PlatformConfig } from '@hotdash/platform-config';
import { CryptoError, DecryptionFailedError, FieldCipher, SubjectKeyMissingError, TenantKeyDestroyedError } from '@hotdash/platform-crypto';
import { TenantDatabase, TenantNotPlacedError } from '@hotdash/platform-db';
import { jobOutcomeMetrics, Metrics } from '@hotdash/platform-http';
import { type ClosableTenantSlots, FailNow, inTenantJob, type JobsPort, type JobWorker, QueueName, retryLaterWhenStoresDown, type RunningJob, tenantSlotsFor } from '@hotdash/platform-jobs';
import { inOutbox, publishOnceInTx } from '@hotdash/platform-messaging';
import {
  createEgressFetch,
  DraftingModel,
  draftingModelFromEnv,
  EarlierDraft,
  EgressOptions,
  Embedder,
  GuardedFetch,
  MODEL_API_KEY_FIELD,
  ModelError,
  OpenAiChatModel,
  OpenAiClientOptions,
} from '@hotdash/platform-models';
import { VectorStore, VectorTenantNotFoundError } from '@hotdash/platform-vector';
import { DraftComposer, TicketText } from './draft-composer';
import { DraftingProfileMissingError, DraftingProfiles } from './drafting-profiles.repository';
import { DraftingJob, draftEventMeta, draftOutcomeEventId, publishDraftFailed } from './drafting.job';

export interface DraftingWorkerDeps {
  config: PlatformConfig;
  db: TenantDatabase;
  cipher: FieldCipher;
  /** Must be the knowledge service's embedder: the query vector is compared with its chunks'. */
  embedder: Embedder;
  vectors: VectorStore;
  /** The job queues (BullMQ or the embedded runner); the per-tenant caps follow them. */
  jobs: JobsPort;
}

export interface DraftingWorkerOptions {
  /** Jobs this process runs at once (they wait on I/O: the database, the vector store, the model). Default 16. */
  concurrency?: number;
  /** Jobs of one tenant running at once across every worker (DESIGN.md §5). Default 4. */
  perTenant?: number;
  /** The model of tenants in mode 'platform'. Default: draftingModelFromEnv(). */
  platformModel?: DraftingModel;
  /** Time limit and in-call retries of requests to tenants' own models (the job's tries come on top). Default: 1 retry. */
  ownModelHttp?: Pick<OpenAiClientOptions, 'timeoutMs' | 'maxRetries'>;
  /**
   * The guard on requests to tenants' own endpoints (tenant-supplied URLs): allow-list, time
   * limit, answer cap. Default: createEgressFetch() from the environment (HOTDASH_EGRESS_ALLOW).
   */
  ownModelEgress?: EgressOptions;
  /**
   * How long a running job's lock lasts without renewal, and how often workers look for jobs whose
   * lock lapsed (a worker that died): such a job runs again elsewhere. BullMQ's defaults (30 s, 30 s).
   */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /**
   * Fault injection for crash specs: awaited at each named point of a job's run (see
   * DraftingCheckpoint); a spec throws or hangs there to stand for a process dying at that point.
   */
  checkpoint?: (point: DraftingCheckpoint, job: RunningJob<DraftingJob>) => Promise<void> | void;
  log?: (message: string) => void;
}

/**
 * Where a drafting job can die with consequences of its own: after the model answered and before the
 * outcome committed (nothing is published: the job runs again and calls the model again), and after
 * the outcome committed but before BullMQ marked the job completed (the job runs again and must
 * publish nothing: the draft has its outcome).
 */
export type DraftingCheckpoint = 'before-commit' | 'after-commit';

/** What a job's run did: wrote the draft's outcome, found it already written by an earlier run, or found its tenant gone. */
export type DraftingResult = 'generated' | 'already-drafted' | 'tenant-gone';

/** Why a draft could not be written: a stable code and a reason fit for the operator (never ticket text). */
interface Failure {
  code: string;
  reason: string;
  retryable: boolean;
}

const MODEL_REASONS: Record<ModelError['code'], string> = {
  'model-unavailable': 'the model provider could not be reached or kept failing',
  'model-timeout': 'the model provider did not answer in time',
  'model-auth-failed': 'the model provider refused the API key; check the model settings',
  'model-rate-limited': 'the model provider kept rate limiting the requests',
  'model-refused': 'the model provider refused the request',
  'model-bad-answer': 'the model provider gave an answer that could not be used',
  'model-endpoint-refused':
    "the tenant's model endpoint may not be called: it must be a public https address (not loopback, private, link-local or the platform's own); an on-premises endpoint must be allow-listed by the platform team (HOTDASH_EGRESS_ALLOW)",
};

/**
 * Writes drafts (queue hotdash-ai-drafting, through the jobs port): decrypts the ticket (and a regeneration's
 * earlier drafts with the operator's reasons and edits) in memory, reads the
 * tenant's drafting profile (ai-drafting's own copy, kept from tenant.settings-changed), picks the
 * tenant's model from it (the platform's, or the tenant's own OpenAI-compatible endpoint with its
 * key, reached only through the egress guard: public https, or what HOTDASH_EGRESS_ALLOW lists),
 * composes the draft from the profile and the tenant's passages (DraftComposer), and publishes
 * draft.generated — the body encrypted with the tenant's data key, the cited passages, the model
 * and the tokens (retrieval embedding included) — from the tenant's shard. A non-retryable error,
 * or the last try failing, publishes draft.failed instead (the ticket stays for a manual reply). A
 * tenant that is gone is skipped. Each tenant runs at most `perTenant` jobs at once. Nothing of the
 * ticket or the draft is logged or kept in the job's failure reason.
 *
 * A tenant without a profile yet (its settings event still on its way) gets no draft with made-up
 * settings: the profile says which model may see the tenant's tickets (a tenant with its own
 * endpoint must never have them sent to the platform's) and which policies bind the reply. The
 * try fails retryably and the job's backoff waits for the event; provisioning publishes the profile
 * before the tenant is activated, so this is a consumer catching up, and after the last try the
 * draft fails (draft.failed) and can be asked for again.
 */
export class DraftingWorker {
  private worker: JobWorker | undefined;
  /** Per-tenant caps (Redis on the stack, this process's counts in embedded mode). */
  readonly slots: ClosableTenantSlots;
  private readonly composer: DraftComposer;
  private readonly profiles: DraftingProfiles;
  private readonly platformModel: DraftingModel;
  /** Tenants' own endpoints only: the platform's endpoint is set by ops and keeps the global fetch. */
  private readonly ownModelFetch: GuardedFetch;

  constructor(
    private readonly deps: DraftingWorkerDeps,
    private readonly options: DraftingWorkerOptions = {},
  ) {
    this.slots = tenantSlotsFor(deps.config, deps.jobs, QueueName.AI_DRAFTING, { cap: options.perTenant ?? 4, leaseMs: 5 * 60_000 });
    this.composer = new DraftComposer(deps.embedder, deps.vectors);
    this.profiles = new DraftingProfiles(deps.db);
    this.platformModel = options.platformModel ?? draftingModelFromEnv();
    this.ownModelFetch = createEgressFetch({ timeoutMs: options.ownModelHttp?.timeoutMs, ...options.ownModelEgress });
  }

  start(): void {
    if (this.worker) return;
    // The worker calls this.process at each run (a spec may wrap it).
    this.worker = this.deps.jobs.worker<DraftingJob, DraftingResult>(QueueName.AI_DRAFTING, this.slots.wrapJob(retryLaterWhenStoresDown((job) => this.process(job), { log: this.options.log })), {
      concurrency: this.options.concurrency ?? 16,
      ...(this.options.lockDurationMs ? { lockDurationMs: this.options.lockDurationMs } : {}),
      ...(this.options.stalledIntervalMs ? { stalledIntervalMs: this.options.stalledIntervalMs } : {}),
      onOutcome: jobOutcomeMetrics(),
      onError: (err) => this.options.log?.(`[ai-drafting] worker: ${err.name}`),
    });
  }

  /** Stops taking jobs; waits for the running ones, unless `force` (a spec standing for a process that died: its jobs' locks lapse and they run again elsewhere). */
  async close(force = false): Promise<void> {
    await this.worker?.close(force);
    this.worker = undefined;
    await this.slots.close();
    await this.ownModelFetch.close();
  }

  /** Writes one draft, in the tenant's context with the correlation of the event that queued it. */
  process(job: RunningJob<DraftingJob>): Promise<DraftingResult> {
    return inTenantJob(QueueName.AI_DRAFTING, job.data, () => this.draft(job));
  }

  /**
   * The draft's outcome (draft.generated or draft.failed) is written once, under an id derived from
   * the draft id: a run that finds it already written (an earlier run died after its commit, before
   * BullMQ heard the job was done) calls no model and publishes nothing.
   */
  private async draft(job: RunningJob<DraftingJob>): Promise<DraftingResult> {
    const data = job.data;
    const tenantId = parseTenantId(data.tenantId);
    const outcomeId = draftOutcomeEventId(data.draftId);
    try {
      // Only a job that ran before (it failed, or its worker died and the job was taken over) can find its outcome written.
      if (job.ranBefore && (await this.deps.db.withTenant(tenantId, (tx) => inOutbox(tx, outcomeId)))) return 'already-drafted';
      const [[profile, model], ticket, earlierDrafts] = await Promise.all([
        this.profiles.require(tenantId).then(async (p) => [p, await this.modelOf(tenantId, p.model)] as const),
        this.ticketOf(tenantId, data),
        this.earlierDraftsOf(tenantId, data),
      ]);
      const draft = await this.composer.compose(tenantId, profile, ticket, model, earlierDrafts);
      // Under the ticket's key: the data subject's when the ticket's text is sealed under one (erasing the subject shreds the draft too).
      const bodyEnc = await this.deps.cipher.encrypt(tenantId, SupportFields.DRAFT_BODY, draft.result.text, { like: data.bodyEnc });
      // The cited passages with their text, for the operator: the tenant's own knowledge, under the tenant's data key.
      const citations = await Promise.all(
        draft.cited.slice(0, 50).map(async (c) => ({
          chunkId: c.chunkId,
          documentId: c.documentId,
          title: c.title.slice(0, 500),
          textEnc: c.text ? await this.deps.cipher.encrypt(tenantId, SupportFields.CITED_PASSAGE, c.text.slice(0, MAX_CITED_PASSAGE)) : null,
        })),
      );
      const tokens = (n: number) => Math.max(0, Math.round(n));
      await this.options.checkpoint?.('before-commit', job);
      const written = await this.deps.db.withTenant(tenantId, (tx) =>
        publishOnceInTx(
          tx,
          outcomeId,
          DraftEvents.GENERATED,
          {
            tenantId,
            ticketId: data.ticketId,
            draftId: data.draftId,
            attempt: data.attempt,
            bodyEnc,
            citations,
            model: draft.result.model.slice(0, 200) || model.model,
            usage: { promptTokens: tokens(draft.result.usage.promptTokens + draft.retrievalTokens), completionTokens: tokens(draft.result.usage.completionTokens) },
          },
          draftEventMeta(data),
        ),
      );
      // A run racing this one (the job ran again while this run was thought dead) wrote it first.
      if (!written) return 'already-drafted';
      Metrics.draft(tenantId, 'generated');
      Metrics.modelTokens(tenantId, { promptTokens: tokens(draft.result.usage.promptTokens + draft.retrievalTokens), completionTokens: tokens(draft.result.usage.completionTokens) });
    } catch (err) {
      if (gone(err)) return 'tenant-gone';
      // A store that is down fails no draft: the job waits for it (retryWhenStoresDown). A model
      // endpoint that is down is not a store (its ModelError is never one): its tries run out and the draft fails.
      if (isStoreUnavailable(err)) throw err;
      const failure = failureOf(err);
      const tries = job.attempts;
      this.options.log?.(`[ai-drafting] draft ${data.draftId} of tenant ${tenantId}, try ${job.attemptsMade + 1}/${tries}: ${failure.code} (${(err as Error)?.name})`);
      // The job's failure reason is kept in the queue's store: the safe reason, never the error's own message.
      if (failure.retryable && job.attemptsMade + 1 < tries) throw new Error(`${failure.code}: ${failure.reason}`);
      try {
        // The draft got its outcome from a run racing this one: nothing failed.
        if (!(await this.fail(tenantId, data, failure))) return 'already-drafted';
        Metrics.draft(tenantId, 'failed');
      } catch (e) {
        if (gone(e)) return 'tenant-gone';
        throw e;
      }
      throw new FailNow(`${failure.code}: ${failure.reason}`);
    }
    await this.options.checkpoint?.('after-commit', job);
    return 'generated';
  }

  /** The platform's model (set by the platform team: the profile's temperature and length do not apply), or the tenant's own. */
  private async modelOf(tenantId: TenantId, m: DraftingModelSettingsV1): Promise<DraftingModel> {
    if (m.mode === 'platform') return this.platformModel;
    if (!m.apiKeyEnc) throw new ModelError('model-auth-failed', "the tenant's own model has no API key", false);
    const apiKey = await this.deps.cipher.decrypt(tenantId, MODEL_API_KEY_FIELD, m.apiKeyEnc);
    return new OpenAiChatModel({
      maxRetries: 1,
      ...this.options.ownModelHttp,
      baseUrl: m.baseUrl ?? 'https://api.openai.com/v1',
      apiKey,
      model: m.model,
      temperature: m.temperature ?? undefined,
      maxTokens: m.maxTokens ?? undefined,
      fetch: this.ownModelFetch,
    });
  }

  private async ticketOf(tenantId: TenantId, data: DraftingJob): Promise<TicketText> {
    const { cipher } = this.deps;
    const [customerName, subject, body] = await Promise.all([
      cipher.decrypt(tenantId, SupportFields.CUSTOMER_NAME, data.customerNameEnc),
      data.subjectEnc === null ? null : cipher.decrypt(tenantId, SupportFields.SUBJECT, data.subjectEnc),
      cipher.decrypt(tenantId, SupportFields.BODY, data.bodyEnc),
    ]);
    return { customerName, subject, body };
  }

  /** A regeneration's earlier drafts, the operator's reasons and edits, decrypted in memory (never logged, never kept). */
  private earlierDraftsOf(tenantId: TenantId, data: DraftingJob): Promise<EarlierDraft[]> {
    const { cipher } = this.deps;
    const open = (field: string, token: string | null) => (token === null ? null : cipher.decrypt(tenantId, field, token));
    return Promise.all(
      (data.earlierDrafts ?? []).map(async (d) => {
        const [text, rejectionReason, editedText] = await Promise.all([
          open(SupportFields.DRAFT_BODY, d.bodyEnc),
          open(SupportFields.REJECT_REASON, d.rejectReasonEnc),
          open(SupportFields.EDITED_BODY, d.editedBodyEnc),
        ]);
        return { attempt: d.attempt, text, rejectionReason, editedText };
      }),
    );
  }

  /** Publishes draft.failed; false when the draft already had its outcome. */
  private fail(tenantId: TenantId, data: DraftingJob, failure: Failure): Promise<boolean> {
    return this.deps.db.withTenant(tenantId, (tx) => publishDraftFailed(tx, data, failure.code, failure.reason));
  }
}

/** The tenant is gone (offboarded, provisioning undone) or its data key shredded: nothing to draft for. */
function gone(err: unknown): boolean {
  return err instanceof TenantNotPlacedError || err instanceof TenantKeyDestroyedError;
}

function failureOf(err: unknown): Failure {
  if (err instanceof ModelError) return { code: err.code, reason: MODEL_REASONS[err.code], retryable: err.retryable };
  if (err instanceof DraftingProfileMissingError) {
    return { code: err.code, reason: "the organisation's drafting settings had not reached the drafting service yet; ask for a new draft", retryable: true };
  }
  if (err instanceof VectorTenantNotFoundError) {
    return { code: err.code, reason: 'the tenant has no knowledge-base namespace; ask the platform team to repair the tenant', retryable: false };
  }
  if (err instanceof SubjectKeyMissingError || (err instanceof DecryptionFailedError && err.keyMissing)) {
    // Not here yet rather than gone: a tenant being imported gets its pilot's last subject keys right after the cut-over.
    return { code: err.code, reason: "the customer's data key had not reached the platform yet; ask for a new draft", retryable: true };
  }
  if (err instanceof CryptoError) {
    return { code: err.code, reason: 'the ticket or the model key could not be decrypted with the tenant data key', retryable: false };
  }
  return { code: 'drafting-failed', reason: `drafting failed on every try (${err instanceof Error ? err.name : 'unknown error'})`, retryable: true };
}
