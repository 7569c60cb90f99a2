// The deployments run as shipped: every Kustomize overlay (k8s/overlays/*) renders, with secrets made
// by scripts/generate-secrets.mjs, into manifests that validate strictly against the Kubernetes
// schemas (kubernetes-validate, offline); every Service, Secret and ConfigMap they refer to is in
// them; every service has probes, resources, an autoscaler and a disruption budget and would start
// with the configuration it gets (the settings schema, its keys); docker-compose.yml runs the same
// services on the same ports with the same variables and secrets; the Dockerfile passes hadolint.
// The tools: deploy/k8s-tools.sh install (scripts/test.mjs and .ci/run run it).
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { parseSettings, SERVICE_DEFAULT_PORTS } from '@hotdash/platform-config';
import { AuthKeys } from '@hotdash/platform-auth';
import { CertificateSigner, certificateVerifyKeysFromEnv, LocalKms } from '@hotdash/platform-crypto';

const root = join(__dirname, '..');
const OVERLAYS = ['dev', 'production', 'single-tenant'] as const;
type Overlay = (typeof OVERLAYS)[number];
/** The oldest Kubernetes the manifests support and the newest kubernetes-validate knows. */
const KUBERNETES_VERSIONS = ['1.30.0', '1.37.0'];
/** Differences between docker-compose.yml and the dev overlay, each with its reason. */
const COMPOSE_ONLY_NOT: Record<string, string> = {
  HOTDASH_TRUSTED_PROXIES: 'Kubernetes only: the Ingress controller is the proxy in front of the gateway; compose publishes the gateway directly',
};

// ---- the rendered manifests ------------------------------------------------------------------

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec?: any;
  data?: Record<string, string>;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [k: string]: any;
}

const tools = Object.fromEntries(
  execFileSync('bash', [join(root, 'deploy', 'k8s-tools.sh'), 'paths'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.split('=') as [string, string]),
) as { KUSTOMIZE: string; KUBERNETES_VALIDATE: string; HADOLINT: string };

// The services: apps with a main.ts, but not a command-line tool (a package `bin`) nor the embedded
// mode (nx tag scope:embedded: every service in one process, `npm start`, not deployed).
const appPackage = (d: string) => JSON.parse(readFileSync(join(root, 'apps', d, 'package.json'), 'utf8')) as { bin?: unknown; nx?: { tags?: string[] } };
const apps = readdirSync(join(root, 'apps')).filter((d) => existsSync(join(root, 'apps', d, 'src', 'main.ts')) && !appPackage(d).bin && !appPackage(d).nx?.tags?.includes('scope:embedded'));

let work: string;
const rendered = {} as Record<Overlay, { file: string; objects: K8sObject[] }>;
/** The generated secrets' env files, by overlay and by file name (hotdash-db, …). */
const secretFiles = {} as Record<Overlay | 'compose', Record<string, Record<string, string>>>;

const envFile = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split('\n')
      .filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

function generateSecrets(dir: string, args: string[] = []): Record<string, Record<string, string>> {
  execFileSync(process.execPath, [join(root, 'scripts', 'generate-secrets.mjs'), '--out', dir, ...args], { encoding: 'utf8' });
  return Object.fromEntries(readdirSync(dir).filter((f) => f.endsWith('.env')).map((f) => [basename(f, '.env'), envFile(readFileSync(join(dir, f), 'utf8'))]));
}

beforeAll(() => {
  for (const [name, path] of Object.entries(tools)) if (!existsSync(path)) throw new Error(`${name} is not installed at ${path}: run deploy/k8s-tools.sh install`);
  work = mkdtempSync(join(tmpdir(), 'hotdash-k8s-'));
  // A copy of k8s/ without any secrets generated in the working tree, each overlay with fresh ones.
  cpSync(join(root, 'k8s'), join(work, 'k8s'), { recursive: true, filter: (src) => basename(src) !== 'secrets' });
  const smtp = ['--smtp-url', 'smtps://hotdash:app-password@smtp.example.com:465'];
  const args: Record<Overlay, string[]> = { dev: [], production: smtp, 'single-tenant': [...smtp, '--without-move-roles'] };
  for (const overlay of OVERLAYS) {
    const dir = join(work, 'k8s', 'overlays', overlay);
    secretFiles[overlay] = generateSecrets(join(dir, 'secrets'), args[overlay]);
    const yaml = execFileSync(tools.KUSTOMIZE, ['build', dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const file = join(work, `${overlay}.yaml`);
    writeFileSync(file, yaml);
    rendered[overlay] = { file, objects: parseAllDocuments(yaml).map((d) => d.toJS() as K8sObject) };
  }
  secretFiles.compose = generateSecrets(join(work, 'compose-secrets'));
}, 60_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const of = (overlay: Overlay, kind: string) => rendered[overlay].objects.filter((o) => o.kind === kind);
const named = (overlay: Overlay, kind: string, name: string) => of(overlay, kind).find((o) => o.metadata.name === name);
const appDeployments = (overlay: Overlay) => of(overlay, 'Deployment').filter((d) => d.metadata.labels?.['app.kubernetes.io/component'] === 'service');
const containerOf = (d: K8sObject) => d.spec.template.spec.containers[0] as Container;
const decode = (data: Record<string, string> = {}) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
/** A generated Secret or ConfigMap's name without kustomize's hash suffix. */
const unhashed = (name: string) => name.replace(/-[a-z0-9]{10}$/, '');

/** The image's ENV (the Dockerfile's last stage): what a container has before Kubernetes adds to it. */
function imageEnv(): Record<string, string> {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages = text.split(/^FROM /m);
  const last = stages[stages.length - 1]!;
  const env: Record<string, string> = {};
  for (const line of last.split('\n').filter((l) => l.startsWith('ENV '))) for (const m of line.slice(4).matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S+)/g)) env[m[1]!] = m[2]!;
  return env;
}

/** The environment a container of the rendered overlay gets: the image's, then envFrom, then env. */
function containerEnv(overlay: Overlay, c: Container): Record<string, string> {
  const env: Record<string, string> = { ...imageEnv() };
  for (const from of c.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, named(overlay, 'ConfigMap', from.configMapRef.name)!.data);
    if (from.secretRef) Object.assign(env, decode(named(overlay, 'Secret', from.secretRef.name)!.data));
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) env[e.name] = decode(named(overlay, 'Secret', e.valueFrom.secretKeyRef.name)!.data)[e.valueFrom.secretKeyRef.key]!;
  }
  return env;
}

// ---- the checks ------------------------------------------------------------------------------

// One run per version for the three overlays (most of a run is loading the schemas).
it.each(KUBERNETES_VERSIONS)('every overlay validates strictly against the Kubernetes %s schemas', (version) => {
  const files = OVERLAYS.map((o) => rendered[o].file);
  const r = spawnSync(tools.KUBERNETES_VALIDATE, ['--strict', '--quiet', '-k', version, ...files], { encoding: 'utf8' });
  expect({ status: r.status, out: `${r.stdout}${r.stderr}`.trim() }).toEqual({ status: 0, out: '' });
  for (const o of OVERLAYS) expect(rendered[o].objects.length).toBeGreaterThan(40);
});

describe.each(OVERLAYS)('k8s/overlays/%s', (overlay) => {

  it('runs every service (npm run start:stack’s), the relay and audit included, from the image, each with a Service on its port', () => {
    const deployments = appDeployments(overlay);
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([...apps].sort());
    for (const d of deployments) {
      const c = containerOf(d);
      const port = SERVICE_DEFAULT_PORTS[d.metadata.name.toUpperCase().replace(/-/g, '_') as keyof typeof SERVICE_DEFAULT_PORTS];
      expect({ name: d.metadata.name, args: c.args, port: c.ports?.[0]?.containerPort }).toEqual({ name: d.metadata.name, args: [d.metadata.name], port });
      expect(c.image).toMatch(/(^|\/)hotdash\/platform:[\w.-]+$/);
      const svc = named(overlay, 'Service', d.metadata.name);
      expect(svc?.spec.ports).toEqual([expect.objectContaining({ port, targetPort: 'http' })]);
      expect(svc?.spec.selector).toEqual(d.spec.selector.matchLabels);
    }
  });

  it('names in its configuration only Services it has, on ports they serve', () => {
    const services = new Map(of(overlay, 'Service').map((s) => [s.metadata.name, s]));
    const refs: { key: string; host: string; port: number }[] = [];
    const env: Record<string, string> = {};
    for (const cm of of(overlay, 'ConfigMap').filter((c) => unhashed(c.metadata.name) === 'hotdash-config')) Object.assign(env, cm.data);
    for (const d of appDeployments(overlay)) for (const e of containerOf(d).env ?? []) if (e.value) env[e.name] = e.value;
    for (const [key, value] of Object.entries(env)) {
      if (key === 'HOTDASH_PUBLIC_URL') continue; // the Ingress's host (below)
      if (/_URL$/.test(key)) {
        const u = new URL(value);
        const port = Number(u.port || { 'http:': 80, 'https:': 443, 'smtp:': 25, 'smtps:': 465 }[u.protocol]);
        refs.push({ key, host: u.hostname, port });
        if (key === 'HOTDASH_WEAVIATE_URL') refs.push({ key: 'HOTDASH_WEAVIATE_GRPC_PORT', host: u.hostname, port: Number(env.HOTDASH_WEAVIATE_GRPC_PORT) });
      }
      if (key === 'HOTDASH_PG_HOST') refs.push({ key, host: value, port: Number(env.HOTDASH_PG_PORT) });
      if (key === 'HOTDASH_REDIS_HOST') refs.push({ key, host: value, port: Number(env.HOTDASH_REDIS_PORT) });
      if (key === 'HOTDASH_KAFKA_BROKERS' || key === 'HOTDASH_REDIS_CLUSTER_NODES') for (const hp of value.split(',')) refs.push({ key, host: hp.slice(0, hp.lastIndexOf(':')), port: Number(hp.slice(hp.lastIndexOf(':') + 1)) });
      if (key === 'HOTDASH_BOOTSTRAP_SHARDS')
        for (const entry of value.split(',')) {
          const m = /=([^:]+):(\d+)\//.exec(entry)!;
          refs.push({ key, host: m[1]!, port: Number(m[2]) });
        }
    }
    expect(refs.map((r) => r.key)).toEqual(expect.arrayContaining(['HOTDASH_PG_HOST', 'HOTDASH_REDIS_HOST', 'HOTDASH_KAFKA_BROKERS', 'HOTDASH_WEAVIATE_URL', 'HOTDASH_AUDIT_URL', 'HOTDASH_BOOTSTRAP_SHARDS']));
    for (const ref of refs) {
      const svc = services.get(ref.host);
      expect({ ...ref, service: svc ? 'present' : 'missing' }).toEqual({ ...ref, service: 'present' });
      expect({ ...ref, ports: svc!.spec.ports.map((p: { port: number }) => p.port) }).toEqual({ ...ref, ports: expect.arrayContaining([ref.port]) });
      // A Service in front of pods selects some (ExternalName Services point at the managed stores).
      if (svc!.spec.type !== 'ExternalName') {
        const selected = of(overlay, 'Deployment').filter((d) => Object.entries(svc!.spec.selector as Record<string, string>).every(([k, v]) => d.spec.template.metadata.labels?.[k] === v));
        expect({ service: ref.host, deployments: selected.length }).toEqual({ service: ref.host, deployments: 1 });
      }
    }
  });

  it('refers only to Secrets, ConfigMaps and claims it defines (the TLS certificate is cert-manager’s)', () => {
    const has = (kind: string, name: string) => Boolean(named(overlay, kind, name));
    const missing: string[] = [];
    for (const w of [...of(overlay, 'Deployment'), ...of(overlay, 'Job')]) {
      const pod = w.spec.template.spec;
      for (const c of pod.containers as Container[]) {
        for (const f of c.envFrom ?? []) {
          if (f.secretRef && !has('Secret', f.secretRef.name)) missing.push(`${w.metadata.name}: Secret ${f.secretRef.name}`);
          if (f.configMapRef && !has('ConfigMap', f.configMapRef.name)) missing.push(`${w.metadata.name}: ConfigMap ${f.configMapRef.name}`);
        }
        for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef && !(decode(named(overlay, 'Secret', e.valueFrom.secretKeyRef.name)?.data) as Record<string, string>)[e.valueFrom.secretKeyRef.key]) missing.push(`${w.metadata.name}: ${e.name}`);
      }
      for (const v of pod.volumes ?? []) {
        if (v.configMap && !has('ConfigMap', v.configMap.name)) missing.push(`${w.metadata.name}: ConfigMap ${v.configMap.name}`);
        if (v.secret && !has('Secret', v.secret.secretName)) missing.push(`${w.metadata.name}: Secret ${v.secret.secretName}`);
        if (v.persistentVolumeClaim && !has('PersistentVolumeClaim', v.persistentVolumeClaim.claimName)) missing.push(`${w.metadata.name}: claim ${v.persistentVolumeClaim.claimName}`);
      }
    }
    expect(missing).toEqual([]);
    // Every Secret's values came from the generator (no placeholder, no empty value).
    for (const s of of(overlay, 'Secret')) for (const [k, v] of Object.entries(decode(s.data))) expect({ secret: s.metadata.name, k, empty: v.trim() === '' }).toEqual({ secret: s.metadata.name, k, empty: false });
  });

  it('gives every service probes, requests and limits, no root and no privileges, an autoscaler and a disruption budget', () => {
    for (const d of appDeployments(overlay)) {
      const name = d.metadata.name;
      const pod = d.spec.template.spec;
      const c = containerOf(d);
      expect({ name, readiness: c.readinessProbe?.httpGet?.path, liveness: c.livenessProbe?.httpGet?.path, startup: c.startupProbe?.httpGet?.path }).toEqual({ name, readiness: '/health/ready', liveness: '/health', startup: '/health' });
      for (const kind of ['requests', 'limits']) expect({ name, kind, keys: Object.keys(c.resources?.[kind] ?? {}).sort() }).toEqual({ name, kind, keys: ['cpu', 'memory'] });
      expect({ name, nonRoot: pod.securityContext?.runAsNonRoot, uid: pod.securityContext?.runAsUser > 0, ro: c.securityContext?.readOnlyRootFilesystem, esc: c.securityContext?.allowPrivilegeEscalation, caps: c.securityContext?.capabilities?.drop }).toEqual({
        name,
        nonRoot: true,
        uid: true,
        ro: true,
        esc: false,
        caps: ['ALL'],
      });
      const hpa = of(overlay, 'HorizontalPodAutoscaler').find((h) => h.spec.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === name);
      expect({ name, hpa: Boolean(hpa), sane: hpa && hpa.spec.minReplicas >= 1 && hpa.spec.maxReplicas > hpa.spec.minReplicas && d.spec.replicas === hpa.spec.minReplicas }).toEqual({ name, hpa: true, sane: true });
      const pdb = of(overlay, 'PodDisruptionBudget').find((p) => Object.entries(p.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => d.spec.template.metadata.labels[k] === v));
      expect({ name, pdb: Boolean(pdb) }).toEqual({ name, pdb: true });
      // A budget that never lets a pod go would block every node drain.
      if (pdb!.spec.minAvailable !== undefined) expect(pdb!.spec.minAvailable).toBeLessThan(hpa!.spec.minReplicas);
    }
  });

  it('publishes the gateway through an Ingress with TLS, its controller the proxy the gateway trusts, the public URL its host', () => {
    const ingresses = of(overlay, 'Ingress');
    expect(ingresses).toHaveLength(1);
    const ing = ingresses[0]!;
    const host = ing.spec.rules[0].host as string;
    expect(ing.spec.tls).toEqual([{ hosts: [host], secretName: expect.any(String) }]);
    expect(ing.metadata.annotations?.['cert-manager.io/cluster-issuer']).toEqual(expect.any(String));
    expect(ing.spec.rules[0].http.paths[0].backend.service).toEqual({ name: 'gateway', port: { name: 'http' } });
    const env = containerEnv(overlay, containerOf(named(overlay, 'Deployment', 'gateway')!));
    expect(env.HOTDASH_PUBLIC_URL).toBe(`https://${host}`);
    const proxies = parseSettings(env).HOTDASH_TRUSTED_PROXIES;
    expect(proxies.length).toBeGreaterThan(0);
  });

  it('starts every service with the configuration it gets: production settings, real keys, nothing refused', () => {
    for (const d of appDeployments(overlay)) {
      const name = d.metadata.name;
      const env = containerEnv(overlay, containerOf(d));
      expect({ name, NODE_ENV: env.NODE_ENV }).toEqual({ name, NODE_ENV: 'production' });
      // What loadServiceConfig does at start (a refusal exits 78).
      expect(() => parseSettings(env, { strict: true })).not.toThrow();
      const auth = AuthKeys.fromEnv(env);
      expect({ name, development: auth.development, verifying: auth.verifying.size > 0, signing: Boolean(auth.signing) }).toEqual({ name, development: false, verifying: true, signing: name === 'gateway' });
      expect(() => LocalKms.fromEnv(env)).not.toThrow();
      if (name === 'drafts' || name === 'provisioning') {
        const signer = CertificateSigner.fromEnv(env);
        expect(signer.development).toBe(false);
        // hotdash-ops verifies with the public key the generator wrote beside the secrets.
        const verify = certificateVerifyKeysFromEnv({ NODE_ENV: 'production', ...secretFiles[overlay].public });
        expect(verify.get(signer.keyId)?.export({ format: 'der', type: 'spki' }).toString('base64')).toBe(signer.publicKeySpki());
      } else expect(env.HOTDASH_CERTIFICATE_SIGNING_KEY).toBeUndefined();
      // The token signing key is the gateway's alone; the admin roles' passwords are provisioning's.
      if (name !== 'gateway') expect(env.HOTDASH_AUTH_SIGNING_KEY).toBeUndefined();
      if (name !== 'provisioning') expect(env.HOTDASH_DB_OWNER_PASSWORD).toBeUndefined();
    }
    const migrate = containerEnv(overlay, of(overlay, 'Job')[0]!.spec.template.spec.containers[0]);
    expect(() => parseSettings(migrate, { strict: true })).not.toThrow();
    expect(migrate.HOTDASH_DB_OWNER_PASSWORD).toBe(secretFiles[overlay]['hotdash-db-admin']!.HOTDASH_DB_OWNER_PASSWORD);
  });
});

describe('what the overlays change', () => {
  const config = (o: Overlay) => of(o, 'ConfigMap').find((c) => unhashed(c.metadata.name) === 'hotdash-config')!.data!;
  it('dev runs the stores in the cluster; production and single-tenant point at managed ones', () => {
    for (const store of ['postgres', 'redis', 'kafka', 'weaviate']) {
      expect(named('dev', 'Deployment', store)).toBeDefined();
      for (const o of ['production', 'single-tenant'] as const) {
        expect(named(o, 'Service', store)?.spec.type).toBe('ExternalName');
        expect(named(o, 'Deployment', store)).toBeUndefined();
      }
    }
  });
  it('production runs at least three replicas of each service, spread over zones; single-tenant one shard and no tenant-move roles', () => {
    for (const d of appDeployments('production')) {
      expect(d.spec.replicas).toBeGreaterThanOrEqual(3);
      expect(d.spec.template.spec.topologySpreadConstraints.map((t: { topologyKey: string }) => t.topologyKey)).toContain('topology.kubernetes.io/zone');
    }
    expect(config('single-tenant').HOTDASH_BOOTSTRAP_SHARDS!.split(',')).toHaveLength(1);
    expect(config('single-tenant').HOTDASH_CONTROL_DATABASE).not.toBe('hotdash_control');
    expect(Object.keys(secretFiles['single-tenant']['hotdash-db-admin']!)).toEqual(['HOTDASH_DB_OWNER_PASSWORD']);
    expect(new Set(OVERLAYS.map((o) => of(o, 'Namespace')[0]!.metadata.name)).size).toBe(3);
  });
  it('every overlay has keys of its own', () => {
    const keys = OVERLAYS.map((o) => secretFiles[o]['hotdash-keys']!.HOTDASH_KMS_MASTER_KEYS);
    expect(new Set(keys).size).toBe(OVERLAYS.length);
  });
});

describe('scripts/generate-secrets.mjs', () => {
  it('writes every secret the services need, readable by their owner only, never over existing ones without --force', () => {
    const dir = join(work, 'compose-secrets');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(dir)) expect({ f, mode: statSync(join(dir, f)).mode & 0o777 }).toEqual({ f, mode: 0o600 });
    expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toMatch(/^\*$/m);
    // Every secret setting a service requires in production, or refuses a development default for.
    const all = Object.assign({}, ...Object.values(secretFiles.compose)) as Record<string, string>;
    for (const k of ['HOTDASH_AUTH_SIGNING_KEY', 'HOTDASH_AUTH_VERIFY_KEYS', 'HOTDASH_KMS_MASTER_KEYS', 'HOTDASH_CERTIFICATE_SIGNING_KEY', 'HOTDASH_DB_OWNER_PASSWORD', 'HOTDASH_DB_APP_PASSWORD', 'HOTDASH_DB_RELAY_PASSWORD', 'HOTDASH_DB_MOVER_PASSWORD', 'HOTDASH_DB_SUBSCRIBER_PASSWORD'])
      expect({ k, set: (all[k] ?? '').length > 20 }).toEqual({ k, set: true });
    const before = readFileSync(join(dir, 'hotdash-keys.env'), 'utf8');
    const again = spawnSync(process.execPath, [join(root, 'scripts', 'generate-secrets.mjs'), '--out', dir], { encoding: 'utf8' });
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('refusing to overwrite');
    expect(readFileSync(join(dir, 'hotdash-keys.env'), 'utf8')).toBe(before);
  });
});

// ---- docker-compose.yml and the image --------------------------------------------------------

interface ComposeService {
  image?: string;
  command?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  env_file?: string[];
  healthcheck?: { test: string[] };
}
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };

describe('docker-compose.yml and k8s name the same services, ports, variables and secrets', () => {
  const composeApps = () => Object.entries(compose.services).filter(([, s]) => s.image?.startsWith('hotdash/platform') && s.command?.[0] !== 'migrate');

  it('runs the same services from the same image', () => {
    expect(composeApps().map(([n]) => n).sort()).toEqual([...apps].sort());
    for (const [name, s] of composeApps()) expect({ name, command: s.command }).toEqual({ name, command: [name] });
  });

  it.each(apps)('%s: the same port, variables and secrets as in the dev overlay', (app) => {
    const s = compose.services[app]!;
    const d = named('dev', 'Deployment', app)!;
    const c = containerOf(d);
    // Ports: published on loopback on the service's own port; the health check reads its readiness.
    expect(s.ports).toEqual([`127.0.0.1:${c.ports![0]!.containerPort}:${c.ports![0]!.containerPort}`]);
    expect(s.healthcheck?.test.join(' ')).toContain(`http://127.0.0.1:${c.ports![0]!.containerPort}/health/ready`);
    // Secrets: the same files (compose's env_file) as Secrets (k8s envFrom).
    const composeSecrets = (s.env_file ?? []).map((f) => basename(f, '.env')).sort();
    const k8sSecrets = (c.envFrom ?? []).flatMap((f) => (f.secretRef ? [unhashed(f.secretRef.name)] : [])).sort();
    expect(composeSecrets).toEqual(k8sSecrets);
    // Variables: the same names; the same values for the addresses of the services themselves.
    // Both run the same image: its ENV first, as containerEnv does for Kubernetes.
    const composeEnv: Record<string, string> = { ...imageEnv() };
    for (const f of composeSecrets) Object.assign(composeEnv, secretFiles.compose[f]);
    Object.assign(composeEnv, Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)])));
    const k8sEnv = containerEnv('dev', c);
    // The platform's settings, and OpenTelemetry's standard variables once a side sets them.
    const names = (env: Record<string, string>) => Object.keys(env).filter((k) => k.startsWith('HOTDASH_') || k.startsWith('OTEL_') || k === 'NODE_ENV').sort();
    expect(names(composeEnv)).toEqual(names(k8sEnv).filter((k) => !(k in COMPOSE_ONLY_NOT)));
    for (const k of names(composeEnv).filter((k) => /^HOTDASH_(PROVISIONING|DRAFTS|KNOWLEDGE|QUOTA|AUDIT)_URL$|^HOTDASH_(PG|REDIS)_HOST$|^HOTDASH_BOOTSTRAP_SHARDS$|^HOTDASH_SMTP_URL$|^NODE_ENV$/.test(k))) expect({ k, v: composeEnv[k] }).toEqual({ k, v: k8sEnv[k] });
  });

  it('migrates with the same secrets, and the migrations accept the configuration they get', () => {
    const job = of('dev', 'Job')[0]!.spec.template.spec.containers[0] as Container;
    const k8sSecrets = (job.envFrom ?? []).flatMap((f) => (f.secretRef ? [unhashed(f.secretRef.name)] : [])).sort();
    const m = compose.services.migrate!;
    expect((m.env_file ?? []).map((f) => basename(f, '.env')).sort()).toEqual(k8sSecrets);
    expect(m.command).toEqual(job.args);
    const env: Record<string, string> = { ...imageEnv(), ...Object.assign({}, ...(m.env_file ?? []).map((f) => secretFiles.compose[basename(f, '.env')])), ...m.environment };
    expect(() => parseSettings(env, { strict: true })).not.toThrow();
  });

  it('runs the same stores, at the same versions, with the same PostgreSQL settings and roles', () => {
    for (const store of ['postgres', 'redis', 'kafka', 'weaviate', 'mailpit']) expect({ store, image: compose.services[store]?.image }).toEqual({ store, image: containerOf(named('dev', 'Deployment', store)!).image });
    const pgArgs = containerOf(named('dev', 'Deployment', 'postgres')!).args!;
    expect(pgArgs).toEqual((compose.services.postgres as unknown as { command: string[] }).command);
    // One script makes the roles and databases for both: compose mounts the one the dev overlay's ConfigMap is generated from.
    expect((compose.services.postgres as unknown as { volumes: string[] }).volumes).toContain('./k8s/stores/in-cluster/initdb:/docker-entrypoint-initdb.d:ro');
    expect(compose.services.postgres!.env_file).toEqual(['.secrets/postgres.env', '.secrets/hotdash-db.env', '.secrets/hotdash-db-admin.env']);
  });
});

describe('the image', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

  it('passes hadolint', () => {
    expect(execFileSync(tools.HADOLINT, ['--no-color', '--failure-threshold', 'info', join(root, 'Dockerfile')], { encoding: 'utf8' })).toBe('');
  });

  it('is built in stages with npm ci and the portal build, and runs as a non-root user', () => {
    expect(dockerfile.match(/^FROM /gm)!.length).toBeGreaterThanOrEqual(3);
    expect(dockerfile).toMatch(/^RUN .*npm ci\b/m);
    expect(dockerfile).toMatch(/^RUN node apps\/portal\/scripts\/build\.mjs/m);
    const users = [...dockerfile.matchAll(/^USER (\S+)/gm)].map((m) => m[1]!);
    expect(users.at(-1)).toMatch(/^[1-9]\d{3,}:[1-9]\d{3,}$/);
    // The last stage's user is also the uid the pods run as.
    for (const o of OVERLAYS) for (const d of appDeployments(o)) expect(`${d.spec.template.spec.securityContext.runAsUser}:${d.spec.template.spec.securityContext.runAsGroup}`).toBe(users.at(-1));
  });

  it('starts the service its argument names: every service, and the migrations', () => {
    const entry = readFileSync(join(root, 'deploy', 'docker', 'entrypoint.sh'), 'utf8');
    expect(dockerfile).toContain('deploy/docker/entrypoint.sh');
    const listed = /^\s*([a-z|-]+)\)\n\s*exec node -r @swc-node\/register "apps\/\$service\/src\/main\.ts"/m.exec(entry)![1]!.split('|');
    expect(listed.sort()).toEqual([...apps].sort());
    expect(entry).toContain('libs/platform/db/src/migrate/cli.ts');
    expect(entry).toContain('libs/platform/messaging/src/topics-cli.ts');
  });

  it('keeps secrets and local state out of the build context', () => {
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const p of ['.secrets', 'k8s', '.local', 'node_modules', '.git']) expect(ignored).toContain(p);
  });
});
