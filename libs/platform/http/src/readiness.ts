import { type FactoryProvider, type InjectionToken, Logger } from '@nestjs/common';

/** What a probe may add to its dependency's entry in the readiness body (e.g. `{ pools: 3 }`). */
export type ProbeDetails = Record<string, unknown>;

/**
 * A readiness probe: resolves (with details for the body, if any) when the dependency answers and
 * rejects with the reason when it does not. It gets the time limit so it can bound its own work (a
 * query timeout, an aborted fetch); the registry enforces the limit in any case.
 */
export type ReadinessProbe = (timeoutMs: number) => Promise<ProbeDetails | void>;

/** One dependency's state after a check: up, or down with `details.message` saying why. */
export interface DependencyState {
  name: string;
  up: boolean;
  details: ProbeDetails & { message?: string };
}

/** Where readiness transitions are written: one line when a dependency goes down, one when it is back. */
export interface ReadinessLog {
  warn(line: string): void;
  log(line: string): void;
}

export interface ReadinessOptions {
  /** Time limit of each probe, in milliseconds (default 1 500): a hung store must not hang the check. */
  timeoutMs?: number;
  log?: ReadinessLog;
}

export const DEFAULT_READINESS_TIMEOUT_MS = 1_500;

interface Part {
  label: string;
  probe: ReadinessProbe;
  /** The probe's run in progress: shared by checks that overlap it, so a hung store never piles probes up. */
  running?: Promise<ProbeDetails | void>;
}

/**
 * The service's readiness: the dependencies it cannot work without (`postgres`, `redis`, `kafka`,
 * `weaviate`), each with the probes of the connections it holds to it, registered where each client
 * is made (`add`, or the `readinessProbe` provider in a module). A check runs every probe at once,
 * each within the time limit; a dependency is up when all of its probes are. The HealthModule serves
 * it at `GET /health/ready`. Transitions are logged once each (down with the reason, up again with
 * how long it was down), so an outage polled every second does not flood the log.
 */
export class Readiness {
  readonly timeoutMs: number;
  private readonly dependencies = new Map<string, Map<string, Part>>();
  private readonly states = new Map<string, { up: boolean; since: number }>();
  private readonly log: ReadinessLog;

  constructor(options: ReadinessOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_READINESS_TIMEOUT_MS;
    this.log = options.log ?? new Logger('readiness');
  }

  /**
   * Registers a probe of `dependency`. Several probes of one dependency (each connection the service
   * holds to it) are told apart by `part`; registering the same part again replaces its probe.
   */
  add(dependency: string, probe: ReadinessProbe, part = dependency): this {
    let parts = this.dependencies.get(dependency);
    if (!parts) this.dependencies.set(dependency, (parts = new Map()));
    parts.set(part, { label: part, probe });
    return this;
  }

  /** The registered dependencies, by name (modules and main.ts register them in no particular order). */
  names(): string[] {
    return [...this.dependencies.keys()].sort();
  }

  /** Checks every dependency at once. */
  checkAll(): Promise<DependencyState[]> {
    return Promise.all(this.names().map((name) => this.check(name)));
  }

  /** Checks one dependency: all of its probes at once, each within the time limit. Never rejects. */
  async check(name: string): Promise<DependencyState> {
    const parts = [...(this.dependencies.get(name)?.values() ?? [])];
    const results = await Promise.allSettled(parts.map((part) => this.run(part)));
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [{ label: parts[i]!.label, message: describe(r.reason) }] : []));
    let details: ProbeDetails;
    if (parts.length === 1) {
      const only = results[0]!;
      details = only.status === 'fulfilled' ? { ...(only.value ?? {}) } : {};
    } else {
      details = { parts: Object.fromEntries(parts.map((p, i) => [p.label, results[i]!.status === 'fulfilled' ? 'up' : 'down'])) };
    }
    const up = failures.length === 0;
    if (!up) details.message = parts.length === 1 ? failures[0]!.message : failures.map((f) => `${f.label}: ${f.message}`).join('; ');
    const state: DependencyState = { name, up, details };
    this.record(state);
    return state;
  }

  private run(part: Part): Promise<ProbeDetails | void> {
    part.running ??= Promise.resolve()
      .then(() => part.probe(this.timeoutMs))
      .finally(() => (part.running = undefined));
    return withTimeout(part.running, this.timeoutMs);
  }

  /** Logs a change of state: the first time a dependency is seen down, and when it is back up. */
  private record(state: DependencyState): void {
    const before = this.states.get(state.name);
    if (before?.up === state.up) return;
    const now = Date.now();
    this.states.set(state.name, { up: state.up, since: now });
    if (!state.up) this.log.warn(`${state.name} is down: ${state.details.message}`);
    else if (before) this.log.log(`${state.name} is up again (down for ${((now - before.since) / 1000).toFixed(1)} s)`);
  }
}

/**
 * A provider that registers a probe of a client the module makes with the app's Readiness, when
 * the app has the HealthModule (an app without it, e.g. a spec's: nothing happens). `probe` makes
 * the probe from the client; undefined registers nothing (e.g. an embedded store in place of a server).
 */
export function readinessProbe<T>(dependency: string, part: string, client: InjectionToken, probe: (client: T) => ReadinessProbe | undefined): FactoryProvider {
  return {
    provide: Symbol(`readiness ${dependency} ${part}`),
    useFactory: (readiness: Readiness | undefined, instance: T) => {
      const p = readiness && probe(instance);
      if (p) readiness.add(dependency, p, part);
      return p ?? false;
    },
    inject: [{ token: Readiness, optional: true }, client],
  };
}

/** Thrown for a probe that did not answer within the time limit. */
export class ReadinessTimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'ReadinessTimeoutError';
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ReadinessTimeoutError(ms)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * An error as one line: its message, followed by what it wraps (causes, an AggregateError's errors)
 * down to the root that says why ("fetch failed: connect ECONNREFUSED …"), each message once. Errors
 * are recognised by shape, not by class: a library loaded in another realm throws other Errors.
 */
function describe(err: unknown): string {
  const messageOf = (e: unknown): string => {
    if (e && typeof e === 'object') {
      const { message, name } = e as { message?: unknown; name?: unknown };
      if (typeof message === 'string' && message) return message;
      if (typeof name === 'string' && name) return name;
    }
    return String(e);
  };
  let line = messageOf(err);
  const seen = new Set<unknown>([err]);
  const walk = (e: unknown, depth: number): void => {
    if (!e || typeof e !== 'object' || depth > 4) return;
    const { errors, cause } = e as { errors?: unknown; cause?: unknown };
    for (const next of [...(Array.isArray(errors) ? errors : []), ...(cause === undefined ? [] : [cause])]) {
      if (seen.has(next)) continue;
      seen.add(next);
      const message = messageOf(next);
      if (message && !line.includes(message)) line = `${line.replace(/\.$/, '')}: ${message}`;
      walk(next, depth + 1);
    }
  };
  walk(err, 0);
  return line;
}
