import { ProblemException } from '@hotdash/platform-http';

/** The status and code of the problem `p` is rejected with (throws when it resolves, or fails otherwise). */
export async function problemOf(p: Promise<unknown>): Promise<{ status: number; code: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ProblemException)) throw new Error(`expected a problem, got ${String(err)}`);
  return { status: err.status, code: err.code };
}
