import { Controller, Delete, DynamicModule, Get, Headers, HttpCode, Inject, Injectable, Module, OnApplicationShutdown, OnModuleInit, Post, Query, Res } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { Job, Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BACKLOG_SCAN_LIMIT, BACKLOG_STATES, type BacklogState, type QueueBacklog, queueBacklog, queueBacklogQuery, QueueDashboardProblems } from '@hotdash/contracts';
import { AuthError, Authenticator, bearerToken, CurrentOps, OpsPrincipal, OpsRoute, PlatformOperatorCheck, TokenService } from '@hotdash/platform-auth';
import { readSetting, type PlatformConfig } from '@hotdash/platform-config';
import { PLATFORM_CONFIG } from '@hotdash/platform-db';
import { ApiDoc, parseInput, PROBLEM_CONTENT_TYPE, ProblemException, problemOf } from '@hotdash/platform-http';
import { QueueName, queueOptions } from '@hotdash/platform-jobs';

/** Where the dashboard is served (the gateway's ops area). */
export const QUEUE_DASHBOARD_PATH = '/ops/queues';
/** The cookie that carries an ops token to the dashboard's pages (set by POST /ops/queues/session). */
export const QUEUE_DASHBOARD_COOKIE = 'hotdash_ops_queues';
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The queues the dashboard shows: the platform's, or those a spec names. */
const DASHBOARD_QUEUES = Symbol('DASHBOARD_QUEUES');

/** What the dashboard shows of a job's error: never the message or stack (a model's or a store's error may quote a ticket). */
const HIDDEN_REASON = 'not shown: a job’s error may hold personal data';

/** A job's data as the dashboard shows it: its tenant only. */
function shownData(data: unknown): { tenantId?: string } {
  const tenantId = (data as { tenantId?: unknown } | null | undefined)?.tenantId;
  return typeof tenantId === 'string' ? { tenantId } : {};
}

/**
 * The job with its payloads replaced: data (its tenant only), return value, error message, stack
 * trace and progress other than a number. Everything @bull-board reads of a job goes through toJSON
 * or these fields; its methods (getState, dependencies of a flow) still work on the real job.
 */
function redacted<J extends Job>(job: J): J {
  const failedReason = job.failedReason ? HIDDEN_REASON : job.failedReason;
  const progress = typeof job.progress === 'number' ? job.progress : 0;
  const shown = { data: shownData(job.data), returnvalue: undefined, stacktrace: [], failedReason, progress };
  const copy = Object.create(job) as J;
  for (const [key, value] of Object.entries(shown)) Object.defineProperty(copy, key, { value, enumerable: true });
  Object.defineProperty(copy, 'toJSON', { value: () => ({ ...job.toJSON(), ...shown }) });
  return copy;
}

/**
 * @bull-board's BullMQ adapter without job payloads: jobs come back redacted (above), a job's log
 * lines and a scheduler's job template are not shown; read-only (no retry, clean, pause, add).
 */
class RedactedQueueAdapter extends BullMQAdapter {
  constructor(queue: Queue) {
    super(queue, { readOnlyMode: true, allowRetries: false, description: `Counts and job metadata only (no data, results or errors). Per tenant: ${QUEUE_DASHBOARD_PATH}/backlog?queue=${queue.name}` });
    this.setFormatter('data', shownData);
    this.setFormatter('returnValue', () => undefined);
    this.setFormatter('progress', (p: unknown) => (typeof p === 'number' ? p : 0));
  }

  override async getJob(id: string): Promise<Job | undefined> {
    const job = await super.getJob(id);
    return job ? redacted(job) : job;
  }

  override async getJobs(...args: Parameters<BullMQAdapter['getJobs']>): Promise<Job[]> {
    return (await super.getJobs(...args)).map(redacted);
  }

  override async getJobLogs(): Promise<string[]> {
    return [];
  }

  override async getJobSchedulers(): ReturnType<BullMQAdapter['getJobSchedulers']> {
    return (await super.getJobSchedulers()).map(({ template: _template, ...scheduler }) => scheduler);
  }
}

type Counts = Record<BacklogState, number>;
const zero = (): Counts => Object.fromEntries(BACKLOG_STATES.map((s) => [s, 0])) as Counts;
const PAGE = 500;

/** One queue's backlog per tenant: its jobs of each backlog state read page by page (at most BACKLOG_SCAN_LIMIT a state), counted by the data's tenantId. */
export async function tenantBacklog(queue: Queue): Promise<QueueBacklog['queues'][number]> {
  const totals = await queue.getJobCounts(...BACKLOG_STATES);
  const counts = zero();
  const tenants = new Map<string | null, Counts>();
  let truncated = false;
  for (const state of BACKLOG_STATES) {
    counts[state] = totals[state] ?? 0;
    for (let start = 0; start < counts[state]; start += PAGE) {
      if (start >= BACKLOG_SCAN_LIMIT) {
        truncated = true;
        break;
      }
      const jobs = await queue.getJobs([state], start, Math.min(start + PAGE, BACKLOG_SCAN_LIMIT) - 1);
      if (jobs.length === 0) break;
      for (const job of jobs) {
        if (!job) continue;
        const tenantId = shownData(job.data).tenantId ?? null;
        let row = tenants.get(tenantId);
        if (!row) tenants.set(tenantId, (row = zero()));
        row[state] += 1;
      }
    }
  }
  const total = (c: Counts) => BACKLOG_STATES.reduce((n, s) => n + c[s], 0);
  const rows = [...tenants].map(([tenantId, c]) => ({ tenantId, ...c })).sort((a, b) => total(b) - total(a) || String(a.tenantId).localeCompare(String(b.tenantId)));
  return { name: queue.name, counts, tenants: rows, truncated };
}

/** The ops token a dashboard request carries: Authorization: Bearer, else the dashboard's cookie. */
function credentialHeaders(req: FastifyRequest): Record<string, string | string[] | undefined> {
  if (req.headers.authorization !== undefined) return req.headers;
  const cookie = (req.headers.cookie ?? '')
    .split(';')
    .map((c) => c.trim())
    .find((c) => c.startsWith(`${QUEUE_DASHBOARD_COOKIE}=`));
  const token = cookie?.slice(QUEUE_DASHBOARD_COOKIE.length + 1);
  return token && JWT.test(token) ? { ...req.headers, authorization: `Bearer ${token}` } : req.headers;
}

const sendProblem = (reply: FastifyReply, req: FastifyRequest, e: unknown): FastifyReply => {
  const problem = problemOf(e);
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).header('cache-control', 'no-store').send(JSON.stringify(problem.toProblem(req.url.split('?', 1)[0])));
};

/** The sign-in page's headers: its own script only, no framing, nothing cached, no Referer. */
const LOGIN_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

const LOGIN_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>HotDash queues: sign in</title>
<style>body{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem}label{display:block;margin:.75rem 0 .25rem}input{width:100%;padding:.4rem;box-sizing:border-box}button{margin-top:1rem;padding:.5rem 1rem}#error{color:#b00020;min-height:1.5em}</style>
<script src="${QUEUE_DASHBOARD_PATH}/login.js" defer></script></head>
<body><main><h1>Queue dashboard</h1><p>Sign in with your platform operator account.</p>
<form id="login"><label for="email">E-mail</label><input id="email" name="email" type="email" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button><p id="error" role="alert"></p></form></main></body></html>
`;

const LOGIN_SCRIPT = `document.getElementById('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const error = document.getElementById('error');
  error.textContent = '';
  try {
    const login = await fetch('/ops/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: e.target.email.value, password: e.target.password.value }) });
    if (!login.ok) throw new Error(login.status === 401 ? 'Wrong e-mail address or password.' : 'Sign-in failed (' + login.status + ').');
    const { accessToken } = await login.json();
    const session = await fetch('${QUEUE_DASHBOARD_PATH}/session', { method: 'POST', headers: { authorization: 'Bearer ' + accessToken } });
    if (!session.ok) throw new Error('The dashboard refused the session (' + session.status + ').');
    location.assign('${QUEUE_DASHBOARD_PATH}/');
  } catch (err) {
    error.textContent = err.message;
  }
});
`;

/**
 * The ops queue dashboard (issue 17 item 10): @bull-board's screens at /ops/queues/ over the
 * platform's BullMQ queues, behind the ops login, read-only and without job payloads
 * (RedactedQueueAdapter), with each queue's backlog per tenant at /ops/queues/backlog
 * (QueueBacklogController). @bull-board's routes are Fastify's, outside Nest's guard: a hook in
 * their context admits a platform operator's token as the ops routes do (401 without one or with
 * a bad one, 403 for a tenant's credential, the operator's account checked on every request) and
 * refuses every method but GET and HEAD. Browsers carry the token in an HttpOnly cookie limited to
 * /ops/queues (POST /ops/queues/session, which the sign-in page /ops/queues/login calls), which the
 * hook also reads for the Nest routes there.
 */
@Injectable()
export class QueueDashboard implements OnModuleInit, OnApplicationShutdown {
  readonly queues: Queue[];

  constructor(
    @Inject(HttpAdapterHost) private readonly host: HttpAdapterHost,
    @Inject(PLATFORM_CONFIG) config: PlatformConfig,
    @Inject(DASHBOARD_QUEUES) names: readonly string[],
    @Inject(TokenService) private readonly tokens: TokenService,
    @Inject(Authenticator) private readonly authenticator: Authenticator,
    @Inject(PlatformOperatorCheck) private readonly operators: PlatformOperatorCheck,
  ) {
    this.queues = names.map((name) => new Queue(name, queueOptions(config, name)));
  }

  onModuleInit(): void {
    const fastify = this.host.httpAdapter?.getInstance?.() as FastifyInstance | undefined;
    if (!fastify || typeof fastify.register !== 'function') return;
    // The sign-in page (no credential): ops e-mail and password → POST /ops/login → POST /ops/queues/session → the dashboard.
    fastify.route({ method: 'GET', url: `${QUEUE_DASHBOARD_PATH}/login`, handler: (_req, reply) => reply.headers({ ...LOGIN_HEADERS, 'content-type': 'text/html; charset=utf-8' }).send(LOGIN_PAGE) });
    fastify.route({ method: 'GET', url: `${QUEUE_DASHBOARD_PATH}/login.js`, handler: (_req, reply) => reply.headers({ ...LOGIN_HEADERS, 'content-type': 'text/javascript; charset=utf-8' }).send(LOGIN_SCRIPT) });
    // The cookie stands for Authorization on every path of the dashboard, Nest's routes there included.
    fastify.addHook('onRequest', async (req) => {
      if (req.url === QUEUE_DASHBOARD_PATH || req.url.startsWith(`${QUEUE_DASHBOARD_PATH}/`)) req.headers = credentialHeaders(req);
    });
    const board = new FastifyAdapter();
    board.setBasePath(QUEUE_DASHBOARD_PATH);
    createBullBoard({ queues: this.queues.map((q) => new RedactedQueueAdapter(q)), serverAdapter: board, options: { uiConfig: { boardTitle: 'HotDash queues' } } });
    void fastify.register(
      async (scope) => {
        scope.addHook('onRequest', async (req, reply) => {
          try {
            if (req.method !== 'GET' && req.method !== 'HEAD') throw new ProblemException(403, QueueDashboardProblems.READ_ONLY, 'Forbidden', 'The queue dashboard is read-only.');
            await this.admit(req.headers);
          } catch (e) {
            return sendProblem(reply, req, e);
          }
        });
        await scope.register(board.registerPlugin());
      },
      { prefix: QUEUE_DASHBOARD_PATH },
    );
  }

  /** A platform operator's token, still active; 403 for a tenant's valid credential, 401 otherwise (as AuthGuard on ops routes). */
  private async admit(headers: Record<string, string | string[] | undefined>): Promise<void> {
    const ops = await Promise.resolve()
      .then(() => this.tokens.verifyOps(bearerToken(headers.authorization)))
      .catch(async (err: unknown) => {
        if (await this.authenticator.authenticate(headers).then(() => true, () => false))
          throw new ProblemException(403, 'ops-token-required', 'Forbidden', 'The queue dashboard takes a platform operator token (POST /ops/login, then POST /ops/queues/session); tenant credentials are never accepted here.');
        throw err;
      });
    if (!(await this.operators.stillActive(ops))) throw new AuthError('token-revoked');
  }

  queue(name: string): Queue | undefined {
    return this.queues.find((q) => q.name === name);
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.close().catch(() => undefined)));
  }
}

/** The dashboard's JSON (per-tenant backlog) and its browser session. Platform operators' tokens only. */
@Controller('ops/queues')
@OpsRoute()
export class QueueBacklogController {
  constructor(
    @Inject(QueueDashboard) private readonly dashboard: QueueDashboard,
    @Inject(TokenService) private readonly tokens: TokenService,
  ) {}

  @ApiDoc({
    summary: 'Ops: each BullMQ queue’s backlog per tenant (waiting, prioritized, active, delayed, failed jobs by the data’s tenant id), counts only; one queue with ?queue=',
    query: queueBacklogQuery,
    response: queueBacklog,
    problems: { 404: `No such queue (${QueueDashboardProblems.UNKNOWN_QUEUE})` },
  })
  @Get('backlog')
  async backlog(@CurrentOps() _ops: OpsPrincipal, @Query() query: unknown): Promise<QueueBacklog> {
    const { queue } = parseInput(queueBacklogQuery, query);
    const queues = queue === undefined ? this.dashboard.queues : [this.dashboard.queue(queue)];
    if (queues.some((q) => !q)) throw new ProblemException(404, QueueDashboardProblems.UNKNOWN_QUEUE, 'Not found', `${queue} is not one of the platform’s queues.`);
    return { at: new Date().toISOString(), queues: await Promise.all(queues.map((q) => tenantBacklog(q!))) };
  }

  @ApiDoc({ summary: 'Ops: open the queue dashboard in a browser: the request’s ops token is set as an HttpOnly cookie for /ops/queues (SameSite=Strict), valid as long as the token', status: 204 })
  @Post('session')
  @HttpCode(204)
  session(@CurrentOps() _ops: OpsPrincipal, @Headers('authorization') authorization: string, @Res({ passthrough: true }) reply: FastifyReply): void {
    const token = bearerToken(authorization);
    void reply.header('set-cookie', `${QUEUE_DASHBOARD_COOKIE}=${token}; Path=${QUEUE_DASHBOARD_PATH}; Max-Age=${this.tokens.accessTtlSeconds}; HttpOnly; Secure; SameSite=Strict`).header('cache-control', 'no-store');
  }

  @ApiDoc({ summary: 'Ops: close the queue dashboard’s browser session (the cookie is cleared)', status: 204 })
  @Delete('session')
  @HttpCode(204)
  endSession(@CurrentOps() _ops: OpsPrincipal, @Res({ passthrough: true }) reply: FastifyReply): void {
    void reply.header('set-cookie', `${QUEUE_DASHBOARD_COOKIE}=; Path=${QUEUE_DASHBOARD_PATH}; Max-Age=0; HttpOnly; Secure; SameSite=Strict`);
  }
}

/**
 * The dashboard of the platform's queues (the gateway), or of the queues a spec names. It shows
 * BullMQ's queues: with the embedded job runner (one process, its jobs in a SQLite file) there are
 * none to show, and no Redis connection is opened.
 */
@Module({})
export class QueueDashboardModule {
  static forQueues(names: readonly string[] = readSetting('HOTDASH_JOB_RUNNER') === 'bullmq' ? Object.values(QueueName) : []): DynamicModule {
    return {
      module: QueueDashboardModule,
      controllers: [QueueBacklogController],
      providers: [{ provide: DASHBOARD_QUEUES, useValue: names }, QueueDashboard],
      exports: [QueueDashboard],
    };
  }
}
