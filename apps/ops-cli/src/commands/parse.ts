import type { z } from 'zod';
import { usageError } from '../errors';

/** Input checked with the contract's own schema before anything is sent: exit 2 with the schema's messages. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const errors = r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  throw usageError(errors.map((e) => `${e.path || '(input)'}: ${e.message}`).join('; '), 'Correct the argument and run the command again; nothing was sent.', errors);
}
