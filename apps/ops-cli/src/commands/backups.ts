import type { Command } from 'commander';
import { ARCHIVE_ID, archiveList, restorePlan, restoreTenantBody, tenantArchiveRun, tenantOfArchive, type ArchiveSummary, type RestorePlan, type TenantArchiveRun, type TenantArchiveStep, type TenantRestoreResult } from '@hotdash/contracts';
import { usageError } from '../errors';
import { emit, formatBytes, note, table, type Output } from '../output';
import type { Context } from '../context';
import { followRun } from '../follow';
import { rowsProgress } from '../progress';
import { parseWith } from './parse';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const tenantId = (v: string): string => {
  if (!UUID.test(v)) throw usageError(`"${v}" is not a tenant id (a UUID).`, 'Give the tenant’s id, as `tenants create` printed it.');
  return v.toLowerCase();
};
const archiveId = (v: string): string => {
  if (!ARCHIVE_ID.test(v)) throw usageError(`"${v}" is not an archive id (<tenant id>_<YYYYMMDD>T<HHMMSSmmm>Z).`, 'Take the id from `hotdash-ops backups list` or from the backup’s output.');
  return v;
};
const runId = (v: string): string => {
  if (!UUID.test(v)) throw usageError(`"${v}" is not a run id (a UUID).`, 'Give the run id that `tenants backup` or `tenants restore` printed.');
  return v.toLowerCase();
};

/** One progress row per step of a run (rows done of rows, or just rows done when the total is not known). */
const stepsProgress = (out: Output) =>
  rowsProgress<TenantArchiveRun>(
    out,
    (run) =>
      run.steps.map((s: TenantArchiveStep) => {
        const total = Math.max(s.total ?? s.done, 1);
        return { name: s.name, total, value: s.state === 'done' ? total : Math.min(s.done, total), count: s.total === null ? String(s.done) : `${s.done}/${s.total}`, status: s.state };
      }),
    { countWidth: 9 },
  );

const summaryRows = (a: ArchiveSummary[]) =>
  table(
    ['ARCHIVE', 'TENANT', 'CREATED', 'SHARD', 'SCHEMA', 'ROWS', 'VECTORS', 'SIZE'],
    a.map((x) => [x.id, x.tenantSlug, x.createdAt, x.shard, x.schemaLatest ?? '-', x.rows, x.vectors, formatBytes(x.bytes)]),
  );

/** A finished run as a person reads it. */
function runText(run: TenantArchiveRun): string {
  const head = `${run.kind === 'backup' ? 'Backup' : 'Restore'} ${run.id} of tenant ${run.tenantId}: ${run.status}`;
  if (run.status === 'failed') return `${head}\n  ${run.error?.code}: ${run.error?.message}\n`;
  if (run.status === 'interrupted') return `${head}: the provisioning instance running it stopped (a backup left no archive; a restore was rolled back or stopped before its vectors). Start it again.\n`;
  if (run.status === 'running') return `${head}. Follow it: hotdash-ops backups watch ${run.tenantId} ${run.id}\n`;
  if (run.result?.kind === 'backup') return `${summaryRows([run.result.archive])}${head}: archive ${run.result.archive.id} written and verified.\n`;
  const r = run.result as TenantRestoreResult;
  const rows = table(
    ['TABLE', 'ROWS', 'CHECKSUM'],
    r.tables.map((t) => [t.name, t.rows, `${t.sha256.slice(0, 12)}…`]),
  );
  const lines = [
    `${head}: archive ${r.archive} restored on ${r.shard}${r.placementMoved ? ` (placement moved, version ${r.placementVersion})` : ''}.`,
    `  rows read back equal the archive's; audit chain verified (${r.auditChain.checked} entries); ${r.vectors.objects} knowledge vectors.`,
  ];
  if (r.erased.length) lines.push(`  erased first: ${r.erased.map((e) => `${e.table} ${e.rows}`).join(', ')}`);
  if (r.previousShard) lines.push(`  ${r.previousShard.rowsLeft ?? 'an unknown number of'} row(s) of the tenant remain on ${r.previousShard.name}: erase them there once you are satisfied.`);
  return `${rows}${lines.join('\n')}\n`;
}

/** Follows a backup or restore, one progress row per step. */
const follow = (ctx: Context, first: TenantArchiveRun) =>
  followRun(ctx, first, {
    noun: 'run',
    again: `hotdash-ops backups watch ${first.tenantId} ${first.id}`,
    poll: async () => (await ctx.authenticated().request('GET', `/ops/tenants/${first.tenantId}/backup-runs/${first.id}`, tenantArchiveRun)).data,
    finished: (run) => run.status !== 'running',
    progress: stepsProgress(ctx.out),
    text: runText,
  });

const planText = (p: RestorePlan) =>
  `${summaryRows([p.archive])}Dry run: would restore archive ${p.archive.id} onto ${p.shard}${p.placementMoves ? ' and move the tenant’s placement there' : ''}: ${p.tables.reduce((n, t) => n + t.rows, 0)} rows in ${p.tables.length} tables, ${p.vectors} knowledge vectors.\n` +
  (p.present.length ? `  ${p.replace ? 'would erase first' : 'present'}: ${p.present.map((x) => `${x.table} ${x.rows}`).join(', ')}\n` : '');

export function backupCommands(program: Command, ctx: () => Context): void {
  const tenants = program.commands.find((c) => c.name() === 'tenants');
  if (!tenants) throw new Error('the tenants commands must be registered first');

  tenants
    .command('backup')
    .description('back a tenant up into one archive: every table in one consistent snapshot, its knowledge vectors, its schema version; encrypted fields stay ciphertext and no key is archived')
    .argument('<tenant-id>', 'the tenant’s id', tenantId)
    .option('--no-wait', 'start the backup and print its run id without following it')
    .addHelpText('after', '\nExit code 0 when the archive is written and verified, 1 when the backup was refused or failed.')
    .action(async (id: string, o: { wait: boolean }) => {
      const c = ctx();
      const { data } = await c.authenticated().request('POST', `/ops/tenants/${id}/backups`, tenantArchiveRun, { body: {} });
      if (!o.wait) {
        emit(c.out, data, () => `Backup ${data.id} of tenant ${id} started (archive ${data.archive}). Follow it: hotdash-ops backups watch ${id} ${data.id}`);
        return;
      }
      note(c.out, `Backup ${data.id} of tenant ${id} started: archive ${data.archive}.`);
      await follow(c, data);
    });

  tenants
    .command('restore')
    .description('restore a tenant from one of its archives onto its shard (or --shard, an active shard of its region: the placement moves there); rows are verified against the archive and the audit chain is verified before anything is committed')
    .argument('<archive>', 'the archive id (`hotdash-ops backups list`); it names the tenant', archiveId)
    .option('--shard <name>', 'restore onto this shard instead of the tenant’s current one')
    .option('--replace', 'erase the tenant’s rows and vectors on the target first (in the same transaction as the restore); needs --yes')
    .option('--yes', 'confirm --replace: the tenant’s current data there is erased for good')
    .option('--dry-run', 'check everything the platform checks and say what would happen; change nothing')
    .option('--no-wait', 'start the restore and print its run id without following it')
    .addHelpText('after', '\nExit code 0 when the tenant is restored and verified (a dry run: it would be), 1 when refused or failed.')
    .action(async (archive: string, o: { shard?: string; replace?: boolean; yes?: boolean; dryRun?: boolean; wait: boolean }) => {
      const c = ctx();
      const id = tenantOfArchive(archive)!;
      const body = parseWith(restoreTenantBody, { archive, ...(o.shard ? { shard: o.shard } : {}), ...(o.replace ? { replace: true } : {}), ...(o.dryRun ? { dryRun: true } : {}) });
      if (o.dryRun) {
        const { data } = await c.authenticated().request('POST', `/ops/tenants/${id}/restore`, restorePlan, { body });
        emit(c.out, data, () => planText(data));
        return;
      }
      if (o.replace && !o.yes) throw usageError(`--replace erases tenant ${id}'s rows and knowledge vectors on the target before restoring the archive.`, 'Add --yes to confirm (try --dry-run first: it lists what would be erased).');
      const { data } = await c.authenticated().request('POST', `/ops/tenants/${id}/restore`, tenantArchiveRun, { body });
      if (!o.wait) {
        emit(c.out, data, () => `Restore ${data.id} of tenant ${id} onto ${data.shard} started. Follow it: hotdash-ops backups watch ${id} ${data.id}`);
        return;
      }
      note(c.out, `Restore ${data.id} of tenant ${id} from ${archive} onto ${data.shard} started.`);
      await follow(c, data);
    });

  const backups = program.command('backups').description('tenant archives: list them, follow a backup or restore');

  backups
    .command('list')
    .description('every tenant archive in the platform’s archive store, by tenant and time')
    .option('--tenant <tenant-id>', 'only this tenant’s archives', tenantId)
    .action(async (o: { tenant?: string }) => {
      const c = ctx();
      const { data } = await c.authenticated().request('GET', `/ops/backups${o.tenant ? `?tenant=${o.tenant}` : ''}`, archiveList);
      emit(c.out, data, () => (data.archives.length ? summaryRows(data.archives) : 'No archives.\n'));
    });

  backups
    .command('watch')
    .description('follow a backup or restore run until it has finished')
    .argument('<tenant-id>', 'the tenant’s id', tenantId)
    .argument('<run-id>', 'the run’s id', runId)
    .action(async (tenant: string, run: string) => {
      const c = ctx();
      const { data } = await c.authenticated().request('GET', `/ops/tenants/${tenant}/backup-runs/${run}`, tenantArchiveRun);
      await follow(c, data);
    });
}
