import { randomInt, timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { backend, CANCEL_REQUEST, closeMessage, cString, type FrontendMessage, GSS_REQUEST, PROTOCOL_V3, queryMessage, readAnswer, splitMessages, SSL_REQUEST, startupParameters, syncMessage } from './wire';

/**
 * A PostgreSQL wire-protocol server in front of PGlite instances (one per database, routed by the
 * startup message's `database`), so the `pg` driver, its pools and the data layer's pipelined
 * transactions run unchanged on the embedded databases.
 *
 * PGlite is ONE backend session. This server multiplexes the connections onto it with the guarantees
 * a PostgreSQL server gives separate backends (@electric-sql/pglite-socket does not:
 * libs/platform/db/src/embedded/pglite-socket-probes.int-spec.ts):
 * - Whole groups: a connection's messages run together up to their Sync (or a simple Query), never
 *   interleaved message by message with another connection's (whose unnamed statement would replace
 *   this one's, or whose error would make the backend skip this one's messages up to a Sync).
 * - Transactions: while a group leaves the backend in a transaction (ReadyForQuery 'T' or 'E'), or
 *   without a ReadyForQuery at all, the backend stays with that connection; other connections' groups
 *   wait in arrival order. A connection that goes away in a transaction is rolled back.
 * - Roles: each connection authenticates (password) as one of the configured roles and its groups run
 *   as it: `SET SESSION AUTHORIZATION` whenever the backend passes to another connection, so the
 *   application role (not the owner, NOBYPASSRLS) is what row-level security sees.
 * - Session state: `RESET ALL` whenever the backend passes to another connection, so a setting one
 *   connection made for its session (`set_config(…, false)`, `SET`) never reaches another; named
 *   prepared statements and portals are renamed per connection (pg names the data layer's per
 *   connection), and closed when it goes.
 * - LISTEN/NOTIFY: the backend's notifications are delivered to every connection that listens on
 *   the channel (PGlite would answer them to whichever connection happened to run).
 * What it does not do: run two statements at once (one backend), cancel a running statement (a
 * CancelRequest is ignored; the client's time limit closes its connection, which rolls it back), or
 * let a connection keep session settings across another connection's turn.
 */
/** What the server needs of a PGlite instance. */
export interface EmbeddedBackend {
  /** Runs frontend messages, handing the backend's answer to `onRawData` (PGlite's execProtocolRawStream: synchronous to its end when `syncToFs` is off). */
  execProtocolRawStream(message: Uint8Array, options: { syncToFs: boolean; onRawData: (data: Uint8Array) => void }): Promise<void>;
  query<T>(text: string): Promise<{ rows: T[] }>;
}

export interface EmbeddedServerOptions {
  /** database name → its PGlite (open, ready). */
  databases: Map<string, EmbeddedBackend>;
  /** role → password: who may connect. */
  roles: Record<string, string>;
  host?: string;
  /** 0: a free port. */
  port?: number;
  /**
   * How long a connection's group may wait for the backend while another connection's transaction
   * holds it (default 10 s); then it is refused with SQLSTATE 55P03 (lock_not_available), as with
   * PostgreSQL's lock_timeout. A transaction that waits on another transaction of the same database
   * (nested withTenant on one shard) would otherwise wait forever: one backend serves both.
   */
  waitTimeoutMs?: number;
}

interface Job {
  conn: Connection;
  /** A client's group; undefined for the connection's cleanup after it closed. */
  group?: Buffer;
  /** While it waits for the backend: its wait limit. */
  timer?: NodeJS.Timeout;
}

interface Instance {
  name: string;
  pg: EmbeddedBackend;
  /** The connection the backend stays with (inside its transaction), if any. */
  holder?: Connection;
  /** The connection whose session state the backend has (who ran last). */
  last?: Connection;
  queue: Job[];
  connections: Set<Connection>;
}

let nextPid = 10_000;

class Connection {
  readonly pid = nextPid++;
  readonly secret = randomInt(2 ** 31);
  user = '';
  instance?: Instance;
  /** Before the startup message; then waiting for the password; then ready. */
  phase: 'startup' | 'password' | 'ready' = 'startup';
  buffer: Buffer = Buffer.alloc(0);
  /** Messages of the group being collected (up to its Sync). */
  pending: Buffer[] = [];
  /** Renamed prepared statements this connection has parsed. */
  readonly statements = new Set<string>();
  readonly listens = new Set<string>();
  /** Channels the group being collected unlistens (the backend must keep listening for the others). */
  readonly unlistened = new Set<string>();
  closed = false;

  constructor(readonly socket: Socket) {}

  get prefix(): string {
    return `hd${this.pid}_`;
  }

  write(data: Buffer): void {
    if (!this.closed && this.socket.writable) this.socket.write(data);
  }
}

const LISTEN = /(?:^|;)\s*(listen|unlisten)\s+("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*|\*)/gi;

/** The channels a statement text listens on or unlistens ('*': all). */
function listenChanges(text: string): { listen: boolean; channel: string }[] {
  const out: { listen: boolean; channel: string }[] = [];
  for (const m of text.matchAll(LISTEN)) {
    const raw = m[2]!;
    const channel = raw.startsWith('"') ? raw.slice(1, -1).replace(/""/g, '"') : raw === '*' ? '*' : raw.toLowerCase();
    out.push({ listen: m[1]!.toLowerCase() === 'listen', channel });
  }
  return out;
}

const quoteIdent = (s: string): string => `"${s.replace(/"/g, '""')}"`;

export class EmbeddedPgServer {
  private server?: Server;
  private stopped = false;
  private readonly instances = new Map<string, Instance>();
  private readonly sockets = new Set<Socket>();
  private serverVersion = '';
  private address = { host: '127.0.0.1', port: 0 };

  constructor(private readonly options: EmbeddedServerOptions) {
    for (const [name, pg] of options.databases) this.instances.set(name, { name, pg, queue: [], connections: new Set() });
  }

  get host(): string {
    return this.address.host;
  }

  get port(): number {
    return this.address.port;
  }

  async start(): Promise<void> {
    const first = [...this.instances.values()][0];
    if (first) this.serverVersion = (await first.pg.query<{ v: string }>('show server_version')).rows[0]!.v;
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    if (addr && typeof addr === 'object') this.address = { host: this.options.host ?? '127.0.0.1', port: addr.port };
  }

  /** Stops accepting, closes every connection (rolling back their transactions). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.stopped = true;
    // Open transactions end with the databases (PGlite closes without committing them); no cleanup
    // runs after this on a database that may be closed by then.
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * @internal specs: what pg_terminate_backend is on the stack. Drops the connection with this
   * BackendKeyData pid (the client's `processID`), or, with a database name, the connection whose
   * transaction holds that database; its transaction is rolled back. Whether one was dropped.
   */
  terminate(target: number | { holderOf: string }): boolean {
    for (const instance of this.instances.values()) {
      for (const conn of instance.connections) {
        if (typeof target === 'number' ? conn.pid === target : instance.name === target.holderOf && instance.holder === conn) {
          // As PostgreSQL ends a terminated backend's connection: a FATAL 57P01, then the close.
          this.fail(conn, '57P01', 'terminating connection due to administrator command');
          return true;
        }
      }
    }
    return false;
  }

  /** Connections open now, per database (specs, diagnostics). */
  connections(): Record<string, number> {
    return Object.fromEntries([...this.instances.values()].map((i) => [i.name, i.connections.size]));
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    this.sockets.add(socket);
    const conn = new Connection(socket);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.receive(conn, chunk);
      } catch (err) {
        this.fail(conn, '08P01', (err as Error).message);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.close(conn);
    });
  }

  private fail(conn: Connection, code: string, text: string): void {
    conn.write(backend.error('FATAL', code, text));
    conn.socket.end();
    this.close(conn);
  }

  private receive(conn: Connection, chunk: Buffer): void {
    conn.buffer = conn.buffer.length ? Buffer.concat([conn.buffer, chunk]) : chunk;
    while (conn.phase === 'startup') {
      if (conn.buffer.length < 8) return;
      const length = conn.buffer.readInt32BE(0);
      if (conn.buffer.length < length) return;
      const msg = conn.buffer.subarray(0, length);
      conn.buffer = conn.buffer.subarray(length);
      const code = msg.readInt32BE(4);
      if (code === SSL_REQUEST || code === GSS_REQUEST) conn.write(Buffer.from('N'));
      else if (code === CANCEL_REQUEST) {
        conn.socket.end(); // nothing to cancel: one backend, statements run to their end
        return;
      } else if (code === PROTOCOL_V3) this.startup(conn, startupParameters(msg));
      else return this.fail(conn, '08P01', `unsupported protocol ${code}`);
    }
    const { messages, rest } = splitMessages(conn.buffer);
    conn.buffer = rest;
    for (const m of messages) {
      if (conn.closed) return;
      if (conn.phase === 'password') this.password(conn, m);
      else this.frontend(conn, m);
    }
  }

  private startup(conn: Connection, params: Record<string, string>): void {
    const user = params.user ?? '';
    const instance = this.instances.get(params.database ?? user);
    if (!(user in this.options.roles)) return this.fail(conn, '28000', `role "${user}" does not exist`);
    if (!instance) return this.fail(conn, '3D000', `database "${params.database}" does not exist`);
    conn.user = user;
    conn.instance = instance;
    conn.phase = 'password';
    conn.write(backend.authenticationCleartextPassword());
  }

  private password(conn: Connection, m: FrontendMessage): void {
    if (m.type !== 'p') return this.fail(conn, '08P01', 'expected a password message');
    const [given] = cString(m.bytes, 5);
    const expected = Buffer.from(this.options.roles[conn.user] ?? '');
    const got = Buffer.from(given);
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) return this.fail(conn, '28P01', `password authentication failed for user "${conn.user}"`);
    conn.phase = 'ready';
    conn.instance!.connections.add(conn);
    conn.write(
      Buffer.concat([
        backend.authenticationOk(),
        backend.parameterStatus('server_version', this.serverVersion),
        backend.parameterStatus('server_encoding', 'UTF8'),
        backend.parameterStatus('client_encoding', 'UTF8'),
        backend.parameterStatus('DateStyle', 'ISO, MDY'),
        backend.parameterStatus('IntervalStyle', 'postgres'),
        backend.parameterStatus('TimeZone', 'UTC'),
        backend.parameterStatus('integer_datetimes', 'on'),
        backend.parameterStatus('standard_conforming_strings', 'on'),
        backend.parameterStatus('is_superuser', 'off'),
        backend.parameterStatus('session_authorization', conn.user),
        backend.backendKeyData(conn.pid, conn.secret),
        backend.readyForQuery('I'),
      ]),
    );
  }

  /** One frontend message: renamed where it names a statement or portal, collected into the group. */
  private frontend(conn: Connection, m: FrontendMessage): void {
    switch (m.type) {
      case 'X':
        conn.socket.end();
        return this.close(conn);
      case 'Q':
        this.track(conn, cString(m.bytes, 5)[0]);
        conn.pending.push(m.bytes);
        return this.submit(conn);
      case 'S':
      case 'H': // Flush: runs what was sent; the backend stays with the connection until its Sync
      case 'c': // CopyDone / CopyFail
      case 'f':
        conn.pending.push(m.bytes);
        return this.submit(conn);
      case 'P':
        return void conn.pending.push(this.renameParse(conn, m.bytes));
      case 'B':
        return void conn.pending.push(this.renameBind(conn, m.bytes));
      case 'D':
      case 'C':
        return void conn.pending.push(this.renameTarget(conn, m.bytes, m.type));
      case 'E':
        return void conn.pending.push(this.renameExecute(conn, m.bytes));
      default:
        return void conn.pending.push(m.bytes);
    }
  }

  private rename(conn: Connection, name: string): string {
    return name ? conn.prefix + name : '';
  }

  private renameParse(conn: Connection, bytes: Buffer): Buffer {
    const [name, at] = cString(bytes, 5);
    const [text] = cString(bytes, at);
    this.track(conn, text);
    if (!name) return bytes;
    const renamed = this.rename(conn, name);
    conn.statements.add(renamed);
    return rebuild(bytes, [Buffer.from(`${renamed}\0`), bytes.subarray(at)]);
  }

  private renameBind(conn: Connection, bytes: Buffer): Buffer {
    const [portal, at] = cString(bytes, 5);
    const [statement, rest] = cString(bytes, at);
    if (!portal && !statement) return bytes;
    return rebuild(bytes, [Buffer.from(`${this.rename(conn, portal)}\0${this.rename(conn, statement)}\0`), bytes.subarray(rest)]);
  }

  /** Describe / Close: a kind byte ('S' statement, 'P' portal) and a name. */
  private renameTarget(conn: Connection, bytes: Buffer, type: string): Buffer {
    const [name] = cString(bytes, 6);
    if (!name) return bytes;
    const renamed = this.rename(conn, name);
    if (type === 'C' && bytes[5] === 0x53) conn.statements.delete(renamed);
    return rebuild(bytes, [bytes.subarray(5, 6), Buffer.from(`${renamed}\0`)]);
  }

  private renameExecute(conn: Connection, bytes: Buffer): Buffer {
    const [portal, at] = cString(bytes, 5);
    if (!portal) return bytes;
    return rebuild(bytes, [Buffer.from(`${this.rename(conn, portal)}\0`), bytes.subarray(at)]);
  }

  /** LISTEN / UNLISTEN in a statement's text: which channels this connection is to hear. */
  private track(conn: Connection, text: string): void {
    if (!/listen/i.test(text)) return;
    for (const change of listenChanges(text)) {
      if (change.listen) conn.listens.add(change.channel);
      else {
        for (const ch of change.channel === '*' ? [...conn.listens] : [change.channel]) conn.unlistened.add(ch);
        if (change.channel === '*') conn.listens.clear();
        else conn.listens.delete(change.channel);
      }
    }
  }

  private submit(conn: Connection): void {
    const group = conn.pending.length === 1 ? conn.pending[0]! : Buffer.concat(conn.pending);
    conn.pending = [];
    const instance = conn.instance!;
    const job: Job = { conn, group };
    instance.queue.push(job);
    this.pump(instance);
    if (instance.queue.includes(job)) {
      job.timer = setTimeout(() => {
        const at = instance.queue.indexOf(job);
        if (at < 0) return;
        instance.queue.splice(at, 1);
        const holder = instance.holder ? ` (backend held by connection ${instance.holder.pid})` : '';
        conn.write(Buffer.concat([backend.error('ERROR', '55P03', `embedded database: waited ${this.waitTimeoutMs} ms for another connection's transaction to end${holder}`), backend.readyForQuery('I')]));
      }, this.waitTimeoutMs);
      job.timer.unref();
    }
  }

  private get waitTimeoutMs(): number {
    return this.options.waitTimeoutMs ?? 10_000;
  }

  /** Runs queued jobs while the backend is free, or the holder's while it holds it. */
  private pump(instance: Instance): void {
    for (;;) {
      const i = instance.holder ? instance.queue.findIndex((j) => j.conn === instance.holder) : 0;
      if (i < 0 || i >= instance.queue.length) return;
      const [job] = instance.queue.splice(i, 1);
      clearTimeout(job!.timer);
      this.run(instance, job!);
    }
  }

  /**
   * Runs frontend messages on the instance's backend; its answer. Through execProtocolRawStream with
   * syncToFs off, which runs synchronously to its end (PGlite 0.6.1: it sets the data callback, then
   * calls execProtocolRawSync): execProtocolRawSync alone also parses every answer into an array
   * PGlite never empties (an entry per message ever answered: 43 KB kept per ticket, the heap from 229
   * to 619 MB over 10,000 tickets in bench/embedded-ticket-to-draft) and costs 2.6× the CPU. PGlite
   * failing (not an SQL error: those are answers) rejects that call instead of throwing: the
   * connection holding the backend is failed then.
   */
  private exec(instance: Instance, bytes: Buffer): ReturnType<typeof readAnswer> {
    const chunks: Buffer[] = [];
    instance.pg
      .execProtocolRawStream(bytes, { syncToFs: false, onRawData: (data) => void chunks.push(Buffer.from(data)) })
      .catch((err: Error) => this.backendFailed(instance, err));
    const answer = readAnswer(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    for (const n of answer.notifications) {
      const note = backend.notification(n.pid, n.channel, n.payload);
      for (const c of instance.connections) if (c.listens.has(n.channel)) c.write(note);
    }
    return answer;
  }

  /** PGlite itself failed under a call (exec): the connection holding the backend cannot go on. */
  private backendFailed(instance: Instance, err: Error): void {
    const conn = instance.holder;
    instance.holder = undefined;
    if (conn && !conn.closed) this.fail(conn, 'XX000', `embedded database: ${err.message}`);
  }

  private run(instance: Instance, job: Job): void {
    if (this.stopped) return;
    try {
      this.runJob(instance, job);
    } catch (err) {
      // PGlite itself failed (not an SQL error: those are answers): the connection cannot go on.
      instance.holder = instance.holder === job.conn ? undefined : instance.holder;
      if (!job.conn.closed) this.fail(job.conn, 'XX000', `embedded database: ${(err as Error).message}`);
    }
  }

  private runJob(instance: Instance, job: Job): void {
    const { conn } = job;
    if (!job.group) return this.cleanup(instance, conn);
    if (conn.closed) return; // its cleanup follows in the queue
    if (instance.last !== conn) {
      // The backend passes to this connection: its role, and no other connection's session settings.
      const switched = this.exec(instance, queryMessage(`RESET ALL; SET SESSION AUTHORIZATION ${quoteIdent(conn.user)}; RESET ROLE`));
      if (switched.error) return this.fail(conn, 'XX000', `embedded database: could not switch to ${conn.user}: ${switched.error.message}`);
      instance.last = conn;
    }
    const answer = this.exec(instance, job.group);
    // Without a ReadyForQuery (a Flush, a COPY in progress) or inside a transaction, the backend stays with it.
    instance.holder = answer.status === 'I' ? undefined : conn;
    conn.write(answer.data);
    // An UNLISTEN of this connection's must not silence the others listening on the channel.
    const relisten = [...conn.unlistened].filter((ch) => this.listenedByOthers(instance, conn, ch));
    conn.unlistened.clear();
    if (relisten.length) this.exec(instance, queryMessage(relisten.map((ch) => `LISTEN ${quoteIdent(ch)}`).join('; ')));
  }

  private listenedByOthers(instance: Instance, conn: Connection, channel: string): boolean {
    for (const c of instance.connections) if (c !== conn && c.listens.has(channel)) return true;
    return false;
  }

  private close(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    const instance = conn.instance;
    if (!instance || conn.phase !== 'ready' || this.stopped) return;
    instance.queue = instance.queue.filter((j) => j.conn !== conn || void clearTimeout(j.timer));
    instance.queue.push({ conn });
    this.pump(instance);
  }

  /** After a connection went: its transaction rolled back, its statements closed, its channels unlistened (unless others listen). */
  private cleanup(instance: Instance, conn: Connection): void {
    instance.connections.delete(conn);
    if (instance.holder === conn) {
      this.exec(instance, queryMessage('ROLLBACK'));
      instance.holder = undefined;
    }
    const parts = [...conn.statements].map((s) => closeMessage('S', s));
    if (parts.length) this.exec(instance, Buffer.concat([...parts, syncMessage()]));
    const unlisten = [...conn.listens].filter((ch) => !this.listenedByOthers(instance, conn, ch));
    if (unlisten.length) this.exec(instance, queryMessage(unlisten.map((ch) => `UNLISTEN ${quoteIdent(ch)}`).join('; ')));
    if (instance.last === conn) instance.last = undefined;
  }
}

/** A message with a new body after its first `keep` bytes… simply: type byte, new length, the parts. */
function rebuild(original: Buffer, parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const out = Buffer.alloc(5 + body.length);
  out[0] = original[0]!;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}
