// Single sign-on's role mapping as the portal edits it: one `claim value = role` a line.

export const ROLES = ['operator', 'team_lead', 'manager', 'admin'] as const;
export type MappedRole = (typeof ROLES)[number];

/** The API's mapping as lines (`value = role`, one a line). */
export const mappingText = (m: Record<string, MappedRole>): string =>
  Object.entries(m)
    .map(([k, v]) => `${k} = ${v}`)
    .join('\n');

/**
 * Lines to the API's mapping: each `value = role` (the last `=` splits, so a value may hold one;
 * spaces around trimmed; blank lines skipped). A line it cannot read is an Error naming it.
 */
export function parseMapping(text: string): Record<string, MappedRole> {
  const out: Record<string, MappedRole> = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line) continue;
    const at = line.lastIndexOf('=');
    const value = line.slice(0, at).trim();
    const role = line.slice(at + 1).trim();
    if (at < 1 || !value || !(ROLES as readonly string[]).includes(role)) throw new Error(`Role mapping, line ${i + 1}: write “claim value = role”, the role one of ${ROLES.join(', ')}.`);
    out[value] = role as MappedRole;
  }
  return out;
}
