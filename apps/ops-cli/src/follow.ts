import { CliError, ExitCode } from './errors';
import { emit } from './output';
import type { Context } from './context';

/** Between two polls of a long operation. */
const POLL_MS = 500;
/** Consecutive failed polls (gateway away for a moment) before giving up. */
const POLL_RETRIES = 6;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One long operation of the platform (a migration run, a backup or restore, a move) as the CLI follows it. */
export interface Followed<R extends { id: string; status: string }> {
  /** What it is called in messages: run, move. */
  noun: string;
  /** The command that follows it again. */
  again: string;
  /** Reads it once more. */
  poll: () => Promise<R>;
  finished: (run: R) => boolean;
  /** Progress rows (on stderr, only on a terminal). */
  progress: { update(run: R): void; stop(): void };
  /** The finished operation as text (--json prints it whole). */
  text: (run: R) => string;
}

/**
 * Polls an operation until it has finished, drawing its progress; prints it and sets the exit code:
 * 0 succeeded, 1 otherwise. Ctrl-C stops following, not the operation. A gateway away for a moment
 * is polled again a few times; a lost login or gateway ends the following with how to pick it up.
 */
export async function followRun<R extends { id: string; status: string }>(ctx: Context, first: R, f: Followed<R>): Promise<void> {
  const Noun = f.noun[0]!.toUpperCase() + f.noun.slice(1);
  const onInterrupt = () => {
    f.progress.stop();
    ctx.out.stderr.write(`\nStopped following; ${f.noun} ${first.id} goes on. Follow it again with \`${f.again}\`.\n`);
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  let run = first;
  let failures = 0;
  try {
    f.progress.update(run);
    while (!f.finished(run)) {
      await sleep(POLL_MS);
      try {
        run = await f.poll();
        failures = 0;
      } catch (err) {
        // A gateway restart or a moment without an answer: keep following, a few times.
        if (err instanceof CliError && err.exitCode === ExitCode.UNREACHABLE && ++failures <= POLL_RETRIES) continue;
        // The operation goes on without us (an ops token lasts 15 minutes; a long one may outlast it).
        if (err instanceof CliError && (err.exitCode === ExitCode.NOT_LOGGED_IN || err.exitCode === ExitCode.UNREACHABLE))
          throw new CliError(err.exitCode, err.code, err.title, err.detail, `${err.hint ?? ''} ${Noun} ${first.id} goes on meanwhile: follow it again with \`${f.again}\`.`.trim(), err.status);
        throw err;
      }
      f.progress.update(run);
    }
  } finally {
    f.progress.stop();
    process.removeListener('SIGINT', onInterrupt);
  }
  emit(ctx.out, run, () => f.text(run));
  if (run.status !== 'succeeded') process.exitCode = ExitCode.REFUSED;
}
