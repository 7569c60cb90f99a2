// Keeps a set of child processes running (`npm run start:stack` runs every service through it, see start.mjs):
// a service that crashes (non-zero exit, or killed by a signal the supervisor did not send) is
// restarted after an exponential backoff (base, 2×base, 4×base … capped at maxDelayMs; the backoff
// resets once the service has stayed up stableMs), while the other services keep running. A
// service that keeps crashing keeps being retried at the cap and the log says so; one that exits
// with code 0 on its own is not restarted, nor one that exits with 78 (EX_CONFIG: its configuration
// was refused at start, libs/platform/config; a restart would be refused the same way). stop() cancels every pending restart, sends SIGTERM to
// every running child, then SIGKILL to those still running after stopGraceMs.
//
// CommonJS, not ESM like the other scripts: the unit specs run under Jest without
// --experimental-vm-modules, where a spec cannot import an .mjs file; an .mjs script (start.mjs)
// imports this file natively.
'use strict';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS module (see above)
const { spawn } = require('node:child_process');

/** sysexits' EX_CONFIG: a service whose environment was refused at start (libs/platform/config EXIT_CONFIG). */
const EXIT_CONFIG = 78;

/**
 * @typedef {object} ServiceSpec
 * @property {string} name shown in every log line about the service
 * @property {string} command
 * @property {string[]} [args]
 * @property {import('node:child_process').SpawnOptions} [options] passed to spawn() on every (re)start
 */

/**
 * @typedef {object} SupervisorOptions
 * @property {number} [baseDelayMs] delay before the first restart after a crash (1 s)
 * @property {number} [maxDelayMs] cap of the doubling delay (30 s)
 * @property {number} [stableMs] a service up this long has its backoff reset (60 s)
 * @property {number} [stopGraceMs] stop(): SIGTERM, then SIGKILL after this long (5 s)
 * @property {(message: string) => void} [log] one line per start, exit, restart decision (console.log)
 * @property {(child: import('node:child_process').ChildProcess, spec: ServiceSpec) => void} [onSpawn]
 *   called with every new child, e.g. to read its output
 */

/** @typedef {{ code?: number | null, signal?: NodeJS.Signals | null, error?: Error }} ExitDescription */

/**
 * @typedef {'running' | 'restart-pending' | 'exited' | 'stopped'} ServiceState
 * running: a child is up; restart-pending: it crashed and a restart is scheduled; exited: it
 * exited with code 0 on its own and stays down; stopped: stop() ended it.
 */

/**
 * @typedef {object} Service
 * @property {ServiceSpec} spec
 * @property {ServiceState | 'not-started'} state
 * @property {import('node:child_process').ChildProcess | null} child
 * @property {number} startedAt
 * @property {number} consecutiveCrashes crashes since it last stayed up stableMs: the next delay is base × 2^(n-1)
 * @property {number} totalRestarts
 * @property {NodeJS.Timeout | null} restartTimer
 * @property {NodeJS.Timeout | null} stableTimer
 * @property {Promise<void> | null} exited settles when the current child has exited
 */

/**
 * "50 ms", "2 s", "1.5 s", "3 min".
 * @param {number} ms
 */
function formatDuration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Math.round(ms / 100) / 10} s`;
  return `${Math.round(ms / 6_000) / 10} min`;
}

/**
 * @param {number | null | undefined} code
 * @param {NodeJS.Signals | null | undefined} signal
 */
function describeExit(code, signal) {
  return signal ? signal : `code ${code}`;
}

class Supervisor {
  /**
   * @param {ServiceSpec[]} specs
   * @param {SupervisorOptions} [options]
   */
  constructor(specs, options = {}) {
    const names = new Set();
    for (const spec of specs) {
      if (names.has(spec.name)) throw new Error(`two services are named ${spec.name}`);
      names.add(spec.name);
    }
    this.baseDelayMs = options.baseDelayMs ?? 1_000;
    this.maxDelayMs = Math.max(options.maxDelayMs ?? 30_000, this.baseDelayMs);
    this.stableMs = options.stableMs ?? 60_000;
    this.stopGraceMs = options.stopGraceMs ?? 5_000;
    this.log = options.log ?? ((message) => console.log(message));
    this.onSpawn = options.onSpawn ?? (() => {});
    /** @type {Promise<void> | null} */
    this.stopping = null;
    /** @type {Map<string, Service>} */
    this.services = new Map(
      specs.map((spec) => [
        spec.name,
        { spec, state: 'not-started', child: null, startedAt: 0, consecutiveCrashes: 0, totalRestarts: 0, restartTimer: null, stableTimer: null, exited: null },
      ]),
    );
  }

  /** Starts every service. */
  start() {
    if (this.stopping) throw new Error('the supervisor has been stopped');
    for (const service of this.services.values()) if (service.state === 'not-started') this.spawn(service);
    return this;
  }

  /**
   * The state of one service: its pid while running, the consecutive crashes that set its next
   * backoff, and how often it was restarted in all.
   * @param {string} name
   */
  status(name) {
    const service = this.services.get(name);
    if (!service) throw new Error(`no service named ${name}`);
    return {
      state: service.state,
      pid: service.state === 'running' ? service.child?.pid : undefined,
      consecutiveCrashes: service.consecutiveCrashes,
      totalRestarts: service.totalRestarts,
      restartPending: service.restartTimer !== null,
    };
  }

  /**
   * Cancels pending restarts and ends every child: SIGTERM, then SIGKILL after stopGraceMs.
   * Resolves once every child has exited; calling it again returns the same promise.
   * @returns {Promise<void>}
   */
  stop() {
    if (this.stopping) return this.stopping;
    /** @type {Service[]} */
    const running = [];
    for (const service of this.services.values()) {
      this.clearTimers(service);
      if (service.state === 'restart-pending') {
        this.log(`${service.spec.name}: pending restart cancelled`);
        service.state = 'stopped';
      } else if (service.state === 'running') {
        running.push(service);
      }
    }
    if (running.length > 0) this.log(`stopping ${running.map((s) => s.spec.name).join(', ')} (SIGTERM, SIGKILL after ${formatDuration(this.stopGraceMs)})`);
    for (const service of running) this.signal(service, 'SIGTERM');
    const killTimer = setTimeout(() => {
      for (const service of running) {
        if (service.state !== 'running') continue;
        this.log(`${service.spec.name} did not stop within ${formatDuration(this.stopGraceMs)}; sending SIGKILL`);
        this.signal(service, 'SIGKILL');
      }
    }, this.stopGraceMs);
    this.stopping = Promise.all(running.map((s) => s.exited)).then(() => clearTimeout(killTimer));
    return this.stopping;
  }

  /**
   * @private
   * @param {Service} service
   * @param {NodeJS.Signals} signal
   */
  signal(service, signal) {
    const child = service.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    try {
      child.kill(signal);
    } catch {
      // already gone: its exit event follows
    }
  }

  /**
   * @private
   * @param {Service} service
   */
  clearTimers(service) {
    if (service.restartTimer) clearTimeout(service.restartTimer);
    if (service.stableTimer) clearTimeout(service.stableTimer);
    service.restartTimer = null;
    service.stableTimer = null;
  }

  /**
   * @private
   * @param {Service} service
   */
  spawn(service) {
    const { spec } = service;
    const restart = service.state === 'restart-pending';
    /** @type {import('node:child_process').ChildProcess} */
    let child;
    try {
      child = spawn(spec.command, spec.args ?? [], spec.options ?? {});
    } catch (error) {
      service.child = null;
      this.crashed(service, `could not be started (${error instanceof Error ? error.message : String(error)})`, 0);
      return;
    }
    service.child = child;
    service.state = 'running';
    service.startedAt = Date.now();
    /** @type {() => void} */
    let settle = () => {};
    service.exited = new Promise((resolve) => (settle = () => resolve()));
    let done = false;
    /** @param {ExitDescription} description */
    const finish = (description) => {
      if (done) return;
      done = true;
      settle();
      if (service.child === child) this.exited(service, description);
    };
    child.on('exit', (code, signal) => finish({ code, signal }));
    // A failed spawn (e.g. ENOENT) emits 'error' and no 'exit'.
    child.on('error', (error) => {
      if (child.pid === undefined) finish({ error });
      else this.log(`${spec.name}: ${error.message}`);
    });
    if (child.pid !== undefined) {
      this.log(
        restart
          ? `${spec.name} restarted (pid ${child.pid}, restart ${service.consecutiveCrashes} in a row, ${service.totalRestarts} in all)`
          : `${spec.name} started (pid ${child.pid})`,
      );
    }
    if (service.consecutiveCrashes > 0) {
      service.stableTimer = setTimeout(() => {
        service.stableTimer = null;
        if (service.child !== child || service.state !== 'running') return;
        service.consecutiveCrashes = 0;
        this.log(`${spec.name} has stayed up ${formatDuration(this.stableMs)}; its restart backoff is reset`);
      }, this.stableMs);
      service.stableTimer.unref();
    }
    this.onSpawn(child, spec);
  }

  /**
   * @private
   * @param {Service} service
   * @param {ExitDescription} exit
   */
  exited(service, { code, signal, error }) {
    const { name } = service.spec;
    const upMs = Date.now() - service.startedAt;
    this.clearTimers(service);
    if (this.stopping) {
      service.state = 'stopped';
      this.log(`${name} stopped (${error ? error.message : describeExit(code, signal)})`);
      return;
    }
    if (error) return this.crashed(service, `could not be started (${error.message})`, upMs);
    if (code === 0 && !signal) {
      service.state = 'exited';
      this.log(`${name} exited on its own (code 0) after ${formatDuration(upMs)}; not restarting it`);
      return;
    }
    if (code === EXIT_CONFIG && !signal) {
      service.state = 'exited';
      this.log(`${name} refused its configuration (code ${EXIT_CONFIG}; its output says which variable); not restarting it: fix the environment and start again`);
      return;
    }
    this.crashed(service, `exited (${describeExit(code, signal)}) after ${formatDuration(upMs)}`, upMs);
  }

  /**
   * @private
   * @param {Service} service
   * @param {string} what "exited (SIGKILL) after 3 s"
   * @param {number} upMs
   */
  crashed(service, what, upMs) {
    const { name } = service.spec;
    // The stable timer resets the count while the service runs; a crash that comes after a long
    // run without a timer (e.g. the event loop was blocked) resets it too.
    if (upMs >= this.stableMs) service.consecutiveCrashes = 0;
    service.consecutiveCrashes += 1;
    service.totalRestarts += 1;
    const n = service.consecutiveCrashes;
    const delay = Math.min(this.baseDelayMs * 2 ** Math.min(n - 1, 30), this.maxDelayMs);
    const capped =
      delay >= this.maxDelayMs && n > 1
        ? `; it keeps crashing: retried every ${formatDuration(this.maxDelayMs)} until it stays up ${formatDuration(this.stableMs)}`
        : '';
    this.log(`${name} ${what}; restarting in ${formatDuration(delay)} (restart ${n}${capped})`);
    service.state = 'restart-pending';
    service.child = null;
    service.restartTimer = setTimeout(() => {
      service.restartTimer = null;
      if (!this.stopping) this.spawn(service);
    }, delay);
  }
}

module.exports = { Supervisor, formatDuration };
