// The dependency order of tenant tables (readTenantTables reads them from the catalogue; the live
// copy of every shard is exercised by the backup spec): parents first, by name among equals, the
// same order whatever order the catalogue gives, and a cycle named rather than looped on.
import { orderByDependencies, TenantTableCycleError } from './tenant-tables';

const t = (name: string, ...references: string[]) => ({ name, references });

it('puts every table after the tables it references, by name among tables free to go', () => {
  const tables = [t('refresh_tokens', 'auth_sessions'), t('drafts', 'tickets'), t('auth_sessions', 'users'), t('users'), t('tickets', 'queue_members'), t('queue_members'), t('audit_log')];
  const names = orderByDependencies(tables).map((x) => x.name);
  expect(names).toEqual(['audit_log', 'queue_members', 'users', 'auth_sessions', 'tickets', 'drafts', 'refresh_tokens']);
  expect(orderByDependencies([...tables].reverse()).map((x) => x.name)).toEqual(names);
});

it('ignores references to itself and to tables not in the list', () => {
  expect(orderByDependencies([t('b', 'b', 'elsewhere'), t('a', 'b')]).map((x) => x.name)).toEqual(['b', 'a']);
});

it('names the tables of a cycle', () => {
  expect(() => orderByDependencies([t('a', 'c'), t('b', 'a'), t('c', 'b'), t('free')])).toThrow(TenantTableCycleError);
  expect(() => orderByDependencies([t('a', 'c'), t('b', 'a'), t('c', 'b'), t('free')])).toThrow('foreign keys between a, b, c form a cycle');
});
