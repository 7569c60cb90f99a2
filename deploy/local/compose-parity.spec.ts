// docker-compose.yml describes the same stack as deploy/local: same services, same host ports; and
// every service `npm run start:stack` runs also runs on containers (docker-compose.yml, k8s/base; the two are
// compared in depth by deploy/k8s-parity.spec.ts).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { LOCAL_PORTS } from '@hotdash/platform-config';

const root = join(__dirname, '..', '..');
const ports = Object.fromEntries(
  readFileSync(join(__dirname, 'ports.env'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z_]+=\d+$/.test(l.trim()))
    .map((l) => l.trim().split('=') as [string, string])
    .map(([k, v]) => [k, Number(v)]),
);
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { ports?: string[] }> };

function hostPorts(service: string): number[] {
  return (compose.services[service]?.ports ?? []).map((p) => Number(p.split(':').at(-2)));
}

describe('docker-compose.yml matches deploy/local', () => {
  it('has the four infrastructure services deploy/local starts', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['postgres', 'redis', 'kafka', 'weaviate']));
    const infra = readFileSync(join(__dirname, 'infra.sh'), 'utf8');
    for (const fn of ['pg_up', 'redis_up', 'kafka_up', 'weaviate_up']) expect(infra).toContain(`${fn}()`);
  });

  it.each([
    ['postgres', 'HOTDASH_PG_PORT'],
    ['redis', 'HOTDASH_REDIS_PORT'],
    ['kafka', 'HOTDASH_KAFKA_PORT'],
    ['weaviate', 'HOTDASH_WEAVIATE_PORT'],
    ['weaviate', 'HOTDASH_WEAVIATE_GRPC_PORT'],
  ])('%s publishes %s on the same host port', (service, key) => {
    expect(ports[key]).toBeDefined();
    expect(hostPorts(service)).toContain(ports[key]);
  });

  it('binds published ports to loopback only', () => {
    for (const [name, svc] of Object.entries(compose.services)) for (const p of svc.ports ?? []) expect({ name, p: p.startsWith('127.0.0.1:') }).toEqual({ name, p: true });
  });

  it('the services default to the same ports', () => {
    expect(LOCAL_PORTS).toEqual({
      postgres: ports.HOTDASH_PG_PORT,
      redis: ports.HOTDASH_REDIS_PORT,
      kafka: ports.HOTDASH_KAFKA_PORT,
      weaviate: ports.HOTDASH_WEAVIATE_PORT,
      weaviateGrpc: ports.HOTDASH_WEAVIATE_GRPC_PORT,
    });
  });

  it('starts PostgreSQL with the same server settings, logical replication for tenant moves included', () => {
    const infra = readFileSync(join(__dirname, 'infra.sh'), 'utf8');
    const local = [...(/^PG_SETTINGS="(.+)"$/m.exec(infra)?.[1] ?? '').matchAll(/-c (\S+)/g)].map((m) => m[1]!).sort();
    const command = (compose.services.postgres as unknown as { command: string[] }).command;
    const containers = command.flatMap((arg, i) => (command[i - 1] === '-c' ? [arg] : [])).sort();
    expect(containers).toEqual(local);
    expect(local).toEqual(expect.arrayContaining(['wal_level=logical', 'max_replication_slots=16', 'max_wal_senders=16', 'max_logical_replication_workers=8', 'max_worker_processes=16']));
    expect(local.some((x) => /^max_slot_wal_keep_size=\d+[MG]B$/.test(x))).toBe(true);
    expect(infra).toContain('-c unix_socket_directories=$STATE/pg/run $PG_SETTINGS');
  });

  it('runs the same Kafka and Weaviate versions', () => {
    const pom = readFileSync(join(__dirname, 'kafka', 'pom.xml'), 'utf8');
    const kafkaVersion = /<kafka.version>(.+)<\/kafka.version>/.exec(pom)![1];
    expect((compose.services.kafka as unknown as { image: string }).image).toBe(`apache/kafka:${kafkaVersion}`);
    const infra = readFileSync(join(__dirname, 'infra.sh'), 'utf8');
    const wv = /HOTDASH_WEAVIATE_VERSION:-v([\d.]+)/.exec(infra)![1];
    expect((compose.services.weaviate as unknown as { image: string }).image).toMatch(new RegExp(`:${wv!.replace(/\./g, '\\.')}$`));
  });
});

describe('every service runs on containers too', () => {
  // Services: apps with a main.ts; a command-line tool (a package `bin`, hotdash-ops) runs on an
  // operator's machine, and the embedded mode (nx tag scope:embedded: every service in one process,
  // `npm start`) on a developer's, not on containers.
  const pkg = (d: string) => JSON.parse(readFileSync(join(root, 'apps', d, 'package.json'), 'utf8')) as { bin?: unknown; nx?: { tags?: string[] } };
  const isCli = (d: string) => Boolean(pkg(d).bin);
  const isEmbedded = (d: string) => Boolean(pkg(d).nx?.tags?.includes('scope:embedded'));
  const apps = readdirSync(join(root, 'apps')).filter((d) => existsSync(join(root, 'apps', d, 'src', 'main.ts')) && !isCli(d) && !isEmbedded(d));
  const start = readFileSync(join(root, 'scripts', 'start.mjs'), 'utf8');
  const entrypoint = readFileSync(join(root, 'deploy', 'docker', 'entrypoint.sh'), 'utf8');

  it.each(apps)('%s is in npm run start:stack, the image\'s entrypoint, docker-compose.yml and k8s/base', (app) => {
    const entry = `apps/${app}/src/main.ts`;
    expect(start).toContain(entry);
    // The image runs apps/<name>/src/main.ts for the name it is given.
    expect(entrypoint).toMatch(new RegExp(`^\\s*[a-z|-]*\\b${app}\\b[a-z|-]*\\)\\n\\s*exec node -r @swc-node/register "apps/\\$service/src/main\\.ts"`, 'm'));
    expect((compose.services[app] as unknown as { command?: string[] } | undefined)?.command).toEqual([app]);
    const k8s = readFileSync(join(root, 'k8s', 'base', 'services', `${app}.yaml`), 'utf8');
    expect(k8s).toContain(`args: [${app}]`);
    expect(readFileSync(join(root, 'k8s', 'base', 'kustomization.yaml'), 'utf8')).toContain(`services/${app}.yaml`);
  });

  it('runs Mailpit as deploy/local does, same version, same ports', () => {
    const infra = readFileSync(join(__dirname, 'infra.sh'), 'utf8');
    const version = /^MAILPIT_VERSION=(v[\d.]+)$/m.exec(infra)![1];
    expect((compose.services.mailpit as unknown as { image: string }).image).toBe(`axllent/mailpit:${version}`);
    expect(hostPorts('mailpit').sort()).toEqual([ports.HOTDASH_SMTP_PORT, ports.HOTDASH_MAILPIT_UI_PORT].sort());
  });
});
