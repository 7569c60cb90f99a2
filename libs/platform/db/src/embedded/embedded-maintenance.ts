import { Client } from 'pg';

/**
 * What autovacuum does on the stack, for the embedded databases: PGlite runs PostgreSQL in one
 * backend, without the autovacuum launcher, so nothing would ever VACUUM or ANALYZE them. With no
 * statistics the planner's estimates fall behind as tables grow, and plans that suited empty tables
 * stay: in bench/embedded-ticket-to-draft the process's CPU per ticket rose from 43 to 55 ms between
 * 2,000 and 6,000 tickets, all of the rise inside PGlite. Every `everyMs` each database gets
 * `VACUUM (ANALYZE)` of each of its tables (those the owner owns: every table of the platform's),
 * through the wire server as the owner: each waits its turn like any connection, never inside
 * another's transaction. One round at a time; a failed round is
 * logged and the next one tries again.
 */
export class EmbeddedMaintenance {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private stopped = false;

  constructor(
    /** The owner's connection string per database. */
    private readonly databases: string[],
    private readonly everyMs: number,
    private readonly log: (msg: string) => void = () => undefined,
  ) {}

  start(): void {
    if (this.everyMs <= 0) return;
    this.timer = setInterval(() => void this.runOnce(), this.everyMs);
    this.timer.unref();
  }

  /** One round now (unless one runs: then that one), over every database. */
  runOnce(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return (this.round ??= (async () => {
      try {
        for (const url of this.databases) {
          if (this.stopped) return;
          const client = new Client({ connectionString: url });
          client.on('error', () => undefined);
          try {
            await client.connect();
            // A table at a time: other connections' statements take their turns between them (a
            // VACUUM of the whole database holds the one backend for as long as it runs).
            const { rows } = await client.query<{ name: string }>(
              `select format('%I.%I', n.nspname, c.relname) as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where c.relkind = 'r' and n.nspname = 'public' and pg_has_role(current_user, c.relowner, 'USAGE') order by c.relname`,
            );
            for (const { name } of rows) {
              if (this.stopped) return;
              await client.query(`VACUUM (ANALYZE) ${name}`);
            }
          } catch (err) {
            this.log(`maintenance: VACUUM (ANALYZE) of ${new URL(url).pathname.slice(1)} failed (${(err as Error).message}); the next round tries again`);
          } finally {
            await client.end().catch(() => undefined);
          }
        }
      } finally {
        this.round = undefined;
      }
    })());
  }

  /** No more rounds; waits for the one running. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.round;
  }
}
