import { z } from 'zod';
import { clip, MAX_PROBLEM_ERRORS, ProblemException } from './problem';

/**
 * Parses an HTTP input with a zod schema, turning failures into a 400 problem with a stable code:
 * `unknown-field` for fields the API does not accept, the code of `codeFor(path)` when given, else
 * `validation-failed`. Every failing field is listed in `errors`.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, codeFor?: (path: string) => string | undefined): z.infer<S> {
  if (input === undefined || input === null || typeof input !== 'object' || Array.isArray(input) || Buffer.isBuffer(input)) {
    if (!(schema instanceof z.ZodObject)) {
      const r = schema.safeParse(input);
      if (r.success) return r.data;
    }
    throw new ProblemException(400, 'invalid-body', 'Invalid request body', 'The request body must be a JSON object, sent with Content-Type: application/json.');
  }
  const nul = pathWithNul(input, '');
  if (nul !== undefined)
    throw new ProblemException(400, 'validation-failed', 'Invalid characters', `${nul || '(body)'}: text must not contain NUL characters.`, [{ path: nul || '(body)', message: 'contains a NUL character' }]);
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const errors = r.error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({ path: [...i.path, k].join('.'), message: 'unknown field', code: 'unknown-field' }))
      : [{ path: i.path.join('.') || '(body)', message: i.message, code: codeFor?.(i.path.join('.')) ?? 'validation-failed' }],
  );
  const code = errors[0]!.code;
  const listed = errors.slice(0, MAX_PROBLEM_ERRORS).map(({ path, message }) => ({ path: clip(path, 100), message: clip(message, 200) }));
  const more = errors.length - listed.length;
  throw new ProblemException(
    400,
    code,
    code === 'unknown-field' ? 'Unknown field' : 'Invalid request',
    (more > 0 ? `${errors.length} errors, the first ${listed.length} listed: ` : '') + listed.map((e) => `${clip(e.path, 40)}: ${e.message}`).join('; '),
    listed,
  );
}

export function parseUuidParam(value: string, name = 'id'): string {
  if (!z.uuid().safeParse(value).success) throw new ProblemException(400, 'invalid-uuid', 'Invalid identifier', `${name} must be a UUID`);
  return value.toLowerCase();
}

/** A header of 1–200 visible ASCII characters, or `fallback` when absent (400 invalid-header otherwise). */
export function parseHeader(value: string | undefined, name: string, fallback: string): string;
export function parseHeader(value: string | undefined, name: string, fallback?: undefined): string | undefined;
export function parseHeader(value: string | undefined, name: string, fallback?: string): string | undefined {
  if (value === undefined || value === '') return fallback;
  if (value.length > 200 || !/^[\x21-\x7e]+$/.test(value)) throw new ProblemException(400, 'invalid-header', 'Invalid header', `${name} must be 1-200 visible ASCII characters`);
  return value;
}

/** The path of the first string (or key) holding a NUL character: PostgreSQL cannot store one, so it is refused at the edge. */
function pathWithNul(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (depth > 20 || value === null || typeof value !== 'object') return undefined;
  for (const [k, v] of Object.entries(value)) {
    const p = path ? `${path}.${k}` : k;
    if (k.includes('\u0000')) return p;
    const found = pathWithNul(v, p, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}
