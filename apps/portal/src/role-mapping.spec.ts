import { mappingText, parseMapping } from './role-mapping';

describe('single sign-on role mapping lines', () => {
  it('reads `value = role` lines, skipping blank ones, and writes them back the same', () => {
    const m = parseMapping('  hotdash-admins = admin\n\nsupport-leads=team_lead\nkey=with=equals = manager\n');
    expect(m).toEqual({ 'hotdash-admins': 'admin', 'support-leads': 'team_lead', 'key=with=equals': 'manager' });
    expect(parseMapping(mappingText(m))).toEqual(m);
    expect(parseMapping('')).toEqual({});
  });

  it.each([
    ['no equals sign', 'admins admin', 1],
    ['no value', ' = admin', 1],
    ['an unknown role', 'ok = admin\nstaff = superuser', 2],
    ['no role', 'staff =', 1],
  ])('names the line it cannot read: %s', (_why, text, line) => {
    expect(() => parseMapping(text)).toThrow(`Role mapping, line ${line}: write “claim value = role”, the role one of operator, team_lead, manager, admin.`);
  });
});
