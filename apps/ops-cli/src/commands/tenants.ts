import { writeFile } from 'node:fs/promises';
import { Argument, Command, Option } from 'commander';
import { changePlanBody, offboardBody, offboardingAccepted, PlanCodes, signedTenantErasureCertificate, signUpAccepted, signUpBody, suspendBody, tenantRecord, tenantSagaProgress, type TenantRecord, type TenantSagaProgress } from '@hotdash/contracts';
import { CliError, ExitCode, usageError } from '../errors';
import { hintFor } from '../hints';
import { emit, note, table } from '../output';
import type { Context } from '../context';
import { parseWith } from './parse';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const POLL_MS = 500;
/** A saga that has not finished in this long is left to run; `tenants progress` follows it later. */
const WAIT_LIMIT_MS = 10 * 60_000;

const tenantId = (v: string): string => {
  if (!UUID.test(v)) throw usageError(`"${v}" is not a tenant id (a UUID).`, 'Give the tenant’s id, as `tenants create` printed it.');
  return v.toLowerCase();
};

const wouldRefuse = (code: string, detail: string) => new CliError(ExitCode.REFUSED, code, 'Would be refused', detail, hintFor(code, detail));

const tenantText = (t: TenantRecord) =>
  table(
    ['FIELD', 'VALUE'],
    [
      ['id', t.id],
      ['name', t.name],
      ['slug', t.slug],
      ['plan', t.plan],
      ['status', t.status],
      ['shard', t.shard || '-'],
      ['region', t.region],
      ['created', t.createdAt],
    ],
  );

const sagaText = (p: TenantSagaProgress) =>
  `Saga ${p.sagaId} of tenant ${p.tenantId}: ${p.status}${p.failedStep ? ` (failed at ${p.failedStep}: ${p.error ?? ''})` : ''}\n` +
  table(
    ['STEP', 'STATUS', 'ATTEMPTS', 'ERROR'],
    p.steps.map((s) => [s.id, s.status, s.attempts, s.lastError ?? '']),
  );

async function getTenant(c: Context, id: string): Promise<TenantRecord> {
  return (await c.authenticated().request('GET', `/ops/tenants/${id}`, tenantRecord)).data;
}

/** Follows a tenant's provisioning or offboarding saga until it has finished; exit 1 unless it ended as `success`. */
async function waitForSaga(c: Context, id: string, which: 'provisioning' | 'offboarding', success: string): Promise<TenantSagaProgress> {
  const client = c.authenticated();
  const deadline = Date.now() + WAIT_LIMIT_MS;
  let last = '';
  for (;;) {
    const p = (await client.request('GET', `/ops/tenants/${id}/${which}`, tenantSagaProgress)).data;
    const done = p.steps.filter((s) => s.status === 'completed').length;
    const line = `${which}: ${done}/${p.steps.length} steps, ${p.status}`;
    if (c.out.progress && line !== last) c.out.stderr.write(`${line}\n`);
    last = line;
    if (!['running', 'compensating', 'provisioning', 'offboarding'].includes(p.status)) {
      if (p.status !== success) process.exitCode = ExitCode.REFUSED;
      return p;
    }
    if (Date.now() > deadline) {
      note(c.out, `Still ${p.status} after ${WAIT_LIMIT_MS / 60_000} minutes; follow it with \`hotdash-ops tenants progress ${id}${which === 'offboarding' ? ' --offboarding' : ''}\`.`);
      process.exitCode = ExitCode.REFUSED;
      return p;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export function tenantCommands(program: Command, ctx: () => Context): void {
  const tenants = program.command('tenants').description('the tenant lifecycle: show, progress, create, suspend, reactivate, plan, offboard, move, dedicate, share, backup, restore (each change is in the tenant’s audit log)');

  tenants
    .command('show')
    .description('a tenant’s record: name, slug, plan, status, shard, region')
    .argument('<tenant-id>', 'the tenant’s id', tenantId)
    .action(async (id: string) => {
      const c = ctx();
      const t = await getTenant(c, id);
      emit(c.out, t, () => tenantText(t));
    });

  tenants
    .command('progress')
    .description('each step of a tenant’s provisioning (or, with --offboarding, offboarding) saga')
    .argument('<tenant-id>', 'the tenant’s id', tenantId)
    .option('--offboarding', 'the offboarding saga instead of the provisioning one')
    .action(async (id: string, o: { offboarding?: boolean }) => {
      const c = ctx();
      const { data } = await c.authenticated().request('GET', `/ops/tenants/${id}/${o.offboarding ? 'offboarding' : 'provisioning'}`, tenantSagaProgress);
      emit(c.out, data, () => sagaText(data));
    });

  tenants
    .command('create')
    .description('sign up an organisation on a customer’s behalf (Enterprise, dedicated database allowed); its admin is mailed an invitation')
    .requiredOption('--name <name>', 'the organisation’s name')
    .addOption(new Option('--plan <plan>', 'the plan').choices(PlanCodes).makeOptionMandatory())
    .requiredOption('--admin-email <email>', 'the first administrator’s e-mail address')
    .option('--admin-name <name>', 'the first administrator’s display name')
    .option('--slug <slug>', 'the login slug (default: made from the name)')
    .option('--dedicated', 'place it on a dedicated shard of its own (Enterprise only)')
    .option('--region <region>', 'where its data lives, for good (data residency; default: the platform’s default region); a region with an active shard')
    .option('--idempotency-key <key>', 'the same key repeats the same sign-up instead of making another (retries in scripts)')
    .option('--wait', 'follow the provisioning saga until the tenant is active (or failed)')
    .option('--dry-run', 'check the sign-up as the platform would and show what would be sent')
    .action(async (o: { name: string; plan: string; adminEmail: string; adminName?: string; slug?: string; dedicated?: boolean; region?: string; idempotencyKey?: string; wait?: boolean; dryRun?: boolean }) => {
      const c = ctx();
      const body = parseWith(signUpBody, {
        name: o.name,
        plan: o.plan,
        admin: { email: o.adminEmail, ...(o.adminName ? { displayName: o.adminName } : {}) },
        ...(o.slug ? { slug: o.slug } : {}),
        ...(o.dedicated ? { dedicatedShard: true } : {}),
        ...(o.region !== undefined ? { region: o.region } : {}),
      });
      if (body.dedicatedShard && body.plan !== 'enterprise') throw wouldRefuse('dedicated-requires-enterprise', 'Only Enterprise tenants may ask for a dedicated database.');
      const headers = o.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : undefined;
      if (o.dryRun) {
        emit(c.out, { dryRun: true, request: { method: 'POST', path: '/ops/tenants', headers: headers ?? {}, body } }, () => `Dry run: would send POST /ops/tenants ${JSON.stringify(body)}${headers ? ` with Idempotency-Key ${o.idempotencyKey}` : ''}`);
        return;
      }
      const { data } = await c.authenticated().request('POST', '/ops/tenants', signUpAccepted, { body, headers });
      if (!o.wait) {
        emit(c.out, data, () => `Tenant ${data.tenantId} (login slug ${data.tenant}) is being provisioned (saga ${data.sagaId}). Follow it: hotdash-ops tenants progress ${data.tenantId}`);
        return;
      }
      const p = await waitForSaga(c, data.tenantId, 'provisioning', 'provisioned');
      emit(c.out, { ...data, provisioning: p }, () => `${sagaText(p)}Tenant ${data.tenantId} (login slug ${data.tenant}): ${p.status}.`);
    });

  tenants
    .command('suspend')
    .description('suspend an active tenant: its writes are refused (423), its reads allowed')
    .argument('<tenant-id>', 'the tenant’s id', tenantId)
    .requiredOption('--reason <reason>', 'why (kept in the tenant’s audit log)')
    .option('--dry-run', 'check the tenant can be suspended; change nothing')
    .action(async (id: string, o: { reason: string; dryRun?: boolean }) => {
      const c = ctx();
      const body = parseWith(suspendBody, { reason: o.reason });
      if (o.dryRun) {
        const t = await getTenant(c, id);
        if (t.status !== 'active') throw wouldRefuse('invalid-tenant-status', `tenant ${id} is ${t.status}; only an active tenant can be made suspended`);
        emit(c.out, { dryRun: true, request: { method: 'POST', path: `/ops/tenants/${id}/suspend`, body }, tenant: t }, () => `Dry run: tenant ${t.slug} is active; would suspend it (reason: ${body.reason}).`);
        return;
      }
      const { data } = await c.authenticated().request('POST', `/ops/tenants/${id}/suspend`, tenantRecord, { body });
      emit(c.out, data, () => `Tenant ${data.slug} is ${data.status}.`);
    });

  tenants
    .command('reactivate')
    .alias('resume')
    .description('reactivate a suspended tenant')
    .argument('<tenant-id>', 'the tenant’s id', tenantId)
    .option('--dry-run', 'check the tenant can be reactivated; change nothing')
    .action(async (id: string, o: { dryRun?: boolean }) => {
      const c = ctx();
      if (o.dryRun) {
        const t = await getTenant(c, id);
        if (t.status !== 'suspended') throw wouldRefuse('invalid-tenant-status', `tenant ${id} is ${t.status}; only a suspended tenant can be made active`);
        emit(c.out, { dryRun: true, request: { method: 'POST', path: `/ops/tenants/${id}/reactivate` }, tenant: t }, () => `Dry run: tenant ${t.slug} is suspended; would reactivate it.`);
        return;
      }
      const { data } = await c.authenticated().request('POST', `/ops/tenants/${id}/reactivate`, tenantRecord);
      emit(c.out, data, () => `Tenant ${data.slug} is ${data.status}.`);
    });

  tenants
    .command('plan')
    .description('change a tenant’s plan (its limits apply at once)')
    .argument('<tenant-id>', 'the tenant’s id', tenantId)
    .addArgument(new Argument('<plan>', `the new plan: ${PlanCodes.join(', ')}`).choices(PlanCodes))
    .option('--dry-run', 'check the tenant’s plan can change; change nothing')
    .action(async (id: string, plan: string, o: { dryRun?: boolean }) => {
      const c = ctx();
      const body = parseWith(changePlanBody, { plan });
      if (o.dryRun) {
        const t = await getTenant(c, id);
        if (t.status !== 'active' && t.status !== 'suspended') throw wouldRefuse('invalid-tenant-status', `tenant ${id} is ${t.status}; plans change only for active or suspended tenants`);
        emit(c.out, { dryRun: true, request: { method: 'PUT', path: `/ops/tenants/${id}/plan`, body }, tenant: t, wouldChange: t.plan !== body.plan }, () =>
          t.plan === body.plan ? `Dry run: tenant ${t.slug} is on ${t.plan} already.` : `Dry run: tenant ${t.slug} would move from ${t.plan} to ${body.plan}.`,
        );
        return;
      }
      const { data } = await c.authenticated().request('PUT', `/ops/tenants/${id}/plan`, tenantRecord, { body });
      emit(c.out, data, () => `Tenant ${data.slug} is on ${data.plan}.`);
    });

  tenants
    .command('offboard')
    .description('offboard a tenant: erases its data from every store and destroys its key (irreversible; needs --yes)')
    .argument('<tenant-id>', 'the tenant’s id', tenantId)
    .requiredOption('--reason <reason>', 'why (kept in the offboarding record)')
    .option('--yes', 'confirm: the tenant’s data is erased for good')
    .option('--wait', 'follow the offboarding saga until it has finished')
    .option('--dry-run', 'check the tenant can be offboarded; change nothing')
    .action(async (id: string, o: { reason: string; yes?: boolean; wait?: boolean; dryRun?: boolean }) => {
      const c = ctx();
      const body = parseWith(offboardBody, { reason: o.reason });
      if (o.dryRun) {
        const t = await getTenant(c, id);
        if (t.status !== 'active' && t.status !== 'suspended') throw wouldRefuse('invalid-tenant-status', `tenant ${id} is ${t.status}; only an active or suspended tenant can be offboarded`);
        emit(c.out, { dryRun: true, request: { method: 'POST', path: `/ops/tenants/${id}/offboard`, body }, tenant: t }, () => `Dry run: tenant ${t.slug} (${t.status}, shard ${t.shard}) would be offboarded: every row, document, vector, job and key of it erased.`);
        return;
      }
      if (!o.yes) throw usageError(`Offboarding erases tenant ${id}'s data from every store, for good.`, `Add --yes to confirm (try --dry-run first).`);
      const { data } = await c.authenticated().request('POST', `/ops/tenants/${id}/offboard`, offboardingAccepted, { body });
      if (!o.wait) {
        emit(c.out, data, () => `Tenant ${id} is being offboarded (saga ${data.sagaId}). Follow it: hotdash-ops tenants progress ${id} --offboarding`);
        return;
      }
      const p = await waitForSaga(c, id, 'offboarding', 'offboarded');
      emit(c.out, { ...data, offboarding: p }, () => `${sagaText(p)}Tenant ${id}: ${p.status}. Its certificate: hotdash-ops tenants certificate ${id} --out <file>`);
    });

  tenants
    .command('certificate')
    .description('the signed certificate of what a tenant’s offboarding erased where (check it with `hotdash-ops certificate verify <file>`)')
    .argument('<tenant-id>', 'the tenant’s id', tenantId)
    .option('--out <file>', 'write the certificate ({certificate, signature}) to this file')
    .action(async (id: string, o: { out?: string }) => {
      const c = ctx();
      const { data } = await c.authenticated().request('GET', `/ops/tenants/${id}/offboarding/certificate`, signedTenantErasureCertificate);
      if (o.out) await writeFile(o.out, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
      const cf = data.certificate;
      emit(c.out, data, () =>
        [
          `Offboarding ${cf.offboardingId} of tenant ${cf.tenantId}, asked by ${cf.requestedBy} at ${cf.requestedAt}, completed ${cf.completedAt}; signed by ${data.signature.keyId}.`,
          table(['STORE', 'METHOD', 'WHAT', 'COUNT'], cf.stores.map((st) => [st.store, st.method, st.items, st.count])).trimEnd(),
          o.out ? `Written to ${o.out}; check it with: hotdash-ops certificate verify ${o.out}` : 'Keep it with --out <file>; check it with hotdash-ops certificate verify <file>.',
        ].join('\n'),
      );
    });
}
