import { Command, InvalidArgumentError, Option } from 'commander';
import { registerShardBody, SHARD_NAME, shardList, ShardKinds, ShardProblems, shardRegistration, shardStatusChange, type RegisterShardBody, type ShardView } from '@hotdash/contracts';
import { CliError, ExitCode } from '../errors';
import { hintFor } from '../hints';
import { emit, note, shardsTable } from '../output';
import type { Context } from '../context';
import { parseWith } from './parse';

const portNumber = (v: string): number => {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65_535) throw new InvalidArgumentError('a port is a number from 1 to 65535.');
  return Number(v);
};

const shardName = (v: string): string => {
  if (!SHARD_NAME.test(v)) throw new InvalidArgumentError('a shard name is 1 to 63 lower-case letters, digits and dashes, starting and ending with a letter or digit.');
  return v;
};

/** What a dry run found: the platform would refuse (exit 1, with the code the real call would get). */
const wouldRefuse = (code: string, title: string, detail: string) => new CliError(ExitCode.REFUSED, code, `Would be refused: ${title}`, detail, hintFor(code, detail));

const where = (s: Pick<ShardView, 'host' | 'port' | 'database'>) => `${s.host}:${s.port}/${s.database}`;

type StatusAction = 'drain' | 'activate' | 'retire';
const TARGET: Record<StatusAction, ShardView['status']> = { drain: 'draining', activate: 'active', retire: 'retired' };
const ABOUT: Record<StatusAction, string> = {
  drain: 'drain a shard: it keeps its tenants and takes no new one (idempotent)',
  activate: 'activate a drained shard: it takes new tenants again (idempotent)',
  retire: 'retire a shard that holds no tenant: no placement, relay or migration reaches it any more (idempotent)',
};

async function listShards(ctx: Context): Promise<ShardView[]> {
  return (await ctx.authenticated().request('GET', '/ops/shards', shardList)).data.shards;
}

/** A dry run of register: the body checked as the platform checks it, and nothing registered under that name or at that location with other details. */
function planRegistration(body: RegisterShardBody, shards: ShardView[]): { outcome: 'registered' | 'reregistered' | 'unchanged'; shard?: ShardView } {
  const same = (s: ShardView) => s.host === body.host && s.port === body.port && s.database === body.database && s.kind === body.kind && s.region === body.region;
  const byName = shards.find((s) => s.name === body.name);
  const atLocation = shards.find((s) => s.name !== body.name && s.host === body.host && s.port === body.port && s.database === body.database);
  if (atLocation) throw wouldRefuse(ShardProblems.EXISTS, 'location taken', `${where(body)} is registered as shard ${atLocation.name} (${atLocation.status}).`);
  if (byName && !same(byName))
    throw wouldRefuse(ShardProblems.EXISTS, 'name taken', `Shard ${body.name} is registered at ${where(byName)} as ${byName.kind} in region ${byName.region} (${byName.status}).`);
  if (byName) return { outcome: byName.status === 'retired' ? 'reregistered' : 'unchanged', shard: byName };
  return { outcome: 'registered' };
}

/** A dry run of drain, activate or retire: what the platform would answer, from the shard as listed now. */
function planStatusChange(action: StatusAction, name: string, shards: ShardView[]): { shard: ShardView; changed: boolean } {
  const shard = shards.find((s) => s.name === name);
  if (!shard) throw wouldRefuse('not-found', 'no such shard', `No shard is named ${name}.`);
  if (shard.status === 'retired' && action !== 'retire') throw wouldRefuse(ShardProblems.RETIRED, 'shard retired', `Shard ${name} is retired.`);
  if (action === 'retire' && shard.status !== 'retired' && shard.tenantCount > 0)
    throw wouldRefuse(ShardProblems.NOT_EMPTY, 'shard not empty', `Shard ${name} holds ${shard.tenantCount} tenant(s).`);
  return { shard, changed: shard.status !== TARGET[action] };
}

export function shardCommands(program: Command, ctx: () => Context): void {
  const shards = program.command('shards').description('the shard registry: list, register, drain, activate, retire');

  shards
    .command('list')
    .description('every shard with status, kind, region, tenants, database size, schema version and relay lag')
    .action(async () => {
      const c = ctx();
      const list = await listShards(c);
      emit(c.out, { shards: list }, () => shardsTable(list));
    });

  shards
    .command('register')
    .description('register a database as a shard: checked as the platform’s roles, migrated, catalogue-guarded, then active and relayed')
    .argument('<name>', 'the shard’s name: lower-case letters, digits and dashes', shardName)
    .requiredOption('--host <host>', 'the database server’s host name or IP address')
    .requiredOption('--port <port>', 'the database server’s port', portNumber)
    .requiredOption('--database <database>', 'the database (created beforehand, schema public open to the platform’s roles)')
    .addOption(new Option('--kind <kind>', 'shared (many tenants) or dedicated (one Enterprise tenant)').choices(ShardKinds).makeOptionMandatory())
    .requiredOption('--region <region>', 'the region, e.g. eu-west-1 (tenants stay in their region)')
    .option('--dry-run', 'show what would be sent, and check that nothing else is registered under that name or at that location')
    .addHelpText('after', '\nNo credentials are sent: the platform connects with its own owner, application and relay roles,\nwhich must exist on that server with the platform’s passwords.')
    .action(async (name: string, o: { host: string; port: number; database: string; kind: string; region: string; dryRun?: boolean }) => {
      const c = ctx();
      const body = parseWith(registerShardBody, { name, host: o.host, port: o.port, database: o.database, kind: o.kind, region: o.region });
      if (o.dryRun) {
        const plan = planRegistration(body, await listShards(c));
        emit(c.out, { dryRun: true, request: { method: 'POST', path: '/ops/shards', body }, wouldBe: plan.outcome, shard: plan.shard ?? null }, () =>
          [
            `Dry run: would send POST /ops/shards ${JSON.stringify(body)}`,
            plan.outcome === 'registered'
              ? `No shard is registered under ${body.name} or at ${where(body)}: the platform would check the database, migrate it and register it as active.`
              : plan.outcome === 'reregistered'
                ? `Shard ${body.name} is retired with these details: the platform would check and migrate it again and bring it back as active.`
                : `Shard ${body.name} is registered with these details (${plan.shard!.status}): the platform would check and migrate it again and leave it as it is.`,
          ].join('\n'),
        );
        return;
      }
      note(c.out, `Registering ${body.name} at ${where(body)}: checking the roles, migrating, running the catalogue guard…`);
      const { data } = await c.authenticated().request('POST', '/ops/shards', shardRegistration, { body });
      const applied = data.migrations.applied.length;
      emit(c.out, data, () =>
        `Shard ${data.shard.name} ${data.outcome === 'registered' ? 'registered' : data.outcome === 'reregistered' ? 'brought back from retired' : 'was registered already (unchanged)'}: ${data.shard.status}, ${data.shard.kind}, region ${data.shard.region}, ${where(data.shard)}; ${applied} migration(s) applied, ${data.migrations.alreadyApplied} already applied.`,
      );
    });

  for (const action of ['drain', 'activate', 'retire'] as const) {
    shards
      .command(action)
      .description(ABOUT[action])
      .argument('<name>', 'the shard’s name', shardName)
      .option('--dry-run', 'say what would happen, from the shard as it is now; change nothing')
      .action(async (name: string, o: { dryRun?: boolean }) => {
        const c = ctx();
        if (o.dryRun) {
          const plan = planStatusChange(action, name, await listShards(c));
          emit(c.out, { dryRun: true, request: { method: 'POST', path: `/ops/shards/${name}/${action}` }, shard: plan.shard, wouldChange: plan.changed }, () =>
            plan.changed ? `Dry run: shard ${name} is ${plan.shard.status}; ${action} would make it ${TARGET[action]}.` : `Dry run: shard ${name} is ${plan.shard.status} already; ${action} would change nothing.`,
          );
          return;
        }
        const { data } = await c.authenticated().request('POST', `/ops/shards/${name}/${action}`, shardStatusChange);
        emit(c.out, data, () => (data.changed ? `Shard ${name} is now ${data.shard.status}.` : `Shard ${name} was ${data.shard.status} already (unchanged).`));
      });
  }
}

