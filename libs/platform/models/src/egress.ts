import { promises as dns } from 'node:dns';
import { isIP, LookupFunction } from 'node:net';
import { networkInterfaces } from 'node:os';
import ipaddr from 'ipaddr.js';
import { Agent, buildConnector, fetch as undiciFetch, type RequestInit as UndiciRequestInit, type Response as UndiciResponse } from 'undici';
import { parseSettings, platformConfigOf, readSetting, SERVICE_DEFAULT_PORTS, type ServiceKey } from '@hotdash/platform-config';

/** Answers a host name with its addresses (every one is checked). Default: the system resolver, `dns.lookup(all)`. */
export type EgressLookup = (hostname: string) => Promise<string[]>;

export interface HostPort {
  host: string;
  port: number;
}

export interface EgressOptions {
  /**
   * Destinations allowed although private, loopback or otherwise special (HOTDASH_EGRESS_ALLOW
   * syntax: comma-separated IPs, CIDRs or host names, each optionally `:port`; `http://host:port`
   * also allows plain http to exactly that origin). Default: `env.HOTDASH_EGRESS_ALLOW`.
   */
  allow?: string | readonly string[];
  /** The platform's own services, refused even when allow-listed. Default: platformServiceAddresses(env). */
  platformServices?: readonly HostPort[];
  /** Where the defaults come from. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Time limit of a request: connection, headers and the whole body. Default 30 000 ms. */
  timeoutMs?: number;
  /** Largest answer body read (after decompression); the read is aborted past it. Default 10 MiB. */
  maxResponseBytes?: number;
  lookup?: EgressLookup;
  /** Trusted certificate authorities (default: Node's bundled list), e.g. a test's self-signed certificate. */
  ca?: string | Buffer | (string | Buffer)[];
}

/** A `fetch` that only reaches what a tenant may reach, for URLs a tenant supplied; close() ends its open connections (a later request opens new ones). */
export type GuardedFetch = typeof globalThis.fetch & { close(): Promise<void> };

/**
 * A request to a tenant-supplied URL that the guard would not send or read on. `egress-refused`:
 * the destination (scheme, credentials in the URL, an address that is not public, the platform's
 * own services); `egress-response-too-large`: the answer passed the size cap. Messages name only
 * what the URL (or a redirect) named, never the addresses a name resolved to.
 */
export class EgressError extends Error {
  constructor(
    readonly code: 'egress-refused' | 'egress-response-too-large',
    readonly reason: 'invalid-url' | 'scheme' | 'credentials' | 'address' | 'platform-service' | 'too-large',
    message: string,
  ) {
    super(message);
    this.name = 'EgressError';
  }
}

/** The EgressError in an error's cause chain (fetch wraps a connector's error in `TypeError: fetch failed`). */
export function egressErrorOf(err: unknown): EgressError | undefined {
  let cur: unknown = err;
  for (let i = 0; i < 6 && cur && typeof cur === 'object'; i++) {
    if (cur instanceof EgressError) return cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

const ALLOW_HINT = 'allow-list it with HOTDASH_EGRESS_ALLOW if it is yours';
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

/** HOTDASH_*_URL variables that name outside providers, not the platform's services. */
const EXTERNAL_URL_VARIABLES = new Set(['HOTDASH_OPENAI_BASE_URL']);

/**
 * The platform's own service addresses, refused to tenant URLs whatever the allow-list says:
 * PostgreSQL (HOTDASH_PG_HOST:PORT and the bootstrap shards), Redis (HOTDASH_REDIS_HOST:PORT), the
 * Kafka brokers (HOTDASH_KAFKA_BROKERS), Weaviate (HOTDASH_WEAVIATE_URL and its gRPC port), the
 * services' HTTP ports (on HOTDASH_BIND) and every other HOTDASH_*_URL and HOTDASH_*_PORT, with
 * the same defaults as the services. Shards registered later in the control database are not here:
 * they are refused as private addresses unless allow-listed.
 */
export function platformServiceAddresses(env: NodeJS.ProcessEnv = process.env): HostPort[] {
  const out = new Map<string, HostPort>();
  const add = (host: string | undefined, port: number): void => {
    const h = host ? normalizeHost(host) : '';
    if (h && Number.isInteger(port) && port > 0 && port < 65_536) out.set(`${h}|${port}`, { host: h, port });
  };
  const addHostPort = (hostPort: string): void => {
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(hostPort.trim());
    if (m) add(m[1], Number(m[2]));
  };
  const addUrl = (value: string): void => {
    try {
      const u = new URL(value);
      add(u.hostname, Number(u.port) || (u.protocol === 'https:' ? 443 : 80));
    } catch {
      // not a URL: nothing to add
    }
  };
  const settings = parseSettings(env);
  const config = platformConfigOf(settings);
  add(config.db.controlHost, config.db.controlPort);
  for (const shard of config.db.bootstrapShards.split(',')) {
    const m = /=\s*([^/]+)\//.exec(shard);
    if (m) addHostPort(m[1]!);
  }
  add(config.redis.host, config.redis.port);
  for (const broker of config.kafka.brokers) addHostPort(broker);
  addUrl(config.weaviate.url);
  try {
    add(new URL(config.weaviate.url).hostname, config.weaviate.grpcPort);
  } catch {
    // a bad Weaviate URL fails where it is used
  }
  const bind = settings.HOTDASH_BIND;
  // The services' HTTP ports (each HOTDASH_<SERVICE>_PORT, its default when unset).
  for (const service of Object.keys(SERVICE_DEFAULT_PORTS) as ServiceKey[]) add(bind, settings[`HOTDASH_${service}_PORT`]);
  // Their ops-only metrics ports (HOTDASH_METRICS_PORT, by default each service's port + 1000).
  const metricsPort = settings.HOTDASH_METRICS_PORT;
  if (metricsPort !== 'off') for (const service of Object.keys(SERVICE_DEFAULT_PORTS) as ServiceKey[]) add(bind, metricsPort ?? settings[`HOTDASH_${service}_PORT`] + 1000);
  for (const [name, value] of Object.entries(env)) {
    if (!value) continue;
    if (/^HOTDASH_\w+_URL$/.test(name) && !EXTERNAL_URL_VARIABLES.has(name)) addUrl(value);
    if (/^HOTDASH_\w+_PORT$/.test(name)) add(bind, Number(value));
  }
  return [...out.values()];
}

type Address = ipaddr.IPv4 | ipaddr.IPv6;

type AllowEntry =
  | { kind: 'address'; address: Address; port?: number }
  | { kind: 'cidr'; range: [Address, number]; port?: number }
  | { kind: 'host'; host: string; port?: number }
  | { kind: 'http-origin'; host: string; port: number };

/** Parses HOTDASH_EGRESS_ALLOW entries; an entry it cannot read throws (a typo must not silently allow or refuse). */
export function parseEgressAllowList(spec: string | readonly string[] | undefined): AllowEntry[] {
  const items = (typeof spec === 'string' ? spec.split(',') : (spec ?? [])).map((s) => s.trim()).filter(Boolean);
  return items.map((item) => {
    const entry = parseAllowEntry(item);
    if (!entry) throw new Error(`HOTDASH_EGRESS_ALLOW: cannot read ${JSON.stringify(item)} (an IP, a CIDR or a host name, each optionally :port, or http://host:port)`);
    return entry;
  });
}

function parseAllowEntry(item: string): AllowEntry | undefined {
  const port = (p: string | undefined): number | undefined | null => {
    if (p === undefined) return undefined;
    const n = Number(p);
    return Number.isInteger(n) && n > 0 && n < 65_536 ? n : null;
  };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(item)) {
    let u: URL;
    try {
      u = new URL(item);
    } catch {
      return undefined;
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password || (u.pathname !== '/' && u.pathname !== '') || u.search) return undefined;
    const p = Number(u.port) || (u.protocol === 'https:' ? 443 : 80);
    const host = normalizeHost(u.hostname);
    return u.protocol === 'http:' ? { kind: 'http-origin', host, port: p } : isIP(host) ? { kind: 'address', address: parseAddress(host)!, port: p } : { kind: 'host', host, port: p };
  }
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(item) ?? /^([^:]+)(?::(\d+))?$/.exec(item) ?? (item.includes(':') ? ([item, item, undefined] as const) : null);
  if (!m) return undefined;
  const [, body, rawPort] = m;
  const p = port(rawPort);
  if (p === null || !body) return undefined;
  if (body.includes('/')) {
    try {
      const [a, bits] = ipaddr.parseCIDR(body);
      return { kind: 'cidr', range: [a, bits], port: p };
    } catch {
      return undefined;
    }
  }
  if (isIP(body)) return { kind: 'address', address: parseAddress(body)!, port: p };
  if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i.test(body)) return { kind: 'host', host: normalizeHost(body), port: p };
  return undefined;
}

function normalizeHost(host: string): string {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
  const a = isIP(h) ? parseAddress(h) : undefined;
  return a ? a.toString() : h;
}

/** An address as ipaddr.js sees it, IPv4-mapped IPv6 unwrapped to IPv4; undefined when it is not one (e.g. a zone id). */
function parseAddress(text: string): Address | undefined {
  try {
    return ipaddr.process(text);
  } catch {
    return undefined;
  }
}

const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/** Why an address is not public, or undefined when it is: only plain unicast (IPv6: within 2000::/3) is. */
function specialRangeOf(address: Address): string | undefined {
  const range = address.range();
  if (range === 'unicast' && (address.kind() === 'ipv4' || address.match(GLOBAL_UNICAST_V6))) return undefined;
  const labels: Record<string, string> = {
    loopback: 'loopback',
    private: 'private-network',
    carrierGradeNat: 'carrier-grade NAT',
    linkLocal: 'link-local',
    uniqueLocal: 'unique-local',
    unspecified: 'unspecified',
    multicast: 'multicast',
    broadcast: 'broadcast',
  };
  return labels[range] ?? 'reserved or special-purpose';
}

const sameAddress = (a: Address, b: Address): boolean => a.kind() === b.kind() && a.toNormalizedString() === b.toNormalizedString();

const defaultLookup: EgressLookup = async (hostname) => (await dns.lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/** The destination checks, shared by the up-front URL check and every connection (each redirect hop, each new socket). */
class EgressPolicy {
  private readonly allow: AllowEntry[];
  private readonly services: readonly HostPort[];
  readonly lookup: EgressLookup;

  constructor(options: EgressOptions) {
    const env = options.env ?? process.env;
    this.allow = parseEgressAllowList(options.allow ?? readSetting('HOTDASH_EGRESS_ALLOW', env));
    this.services = (options.platformServices ?? platformServiceAddresses(env)).map((s) => ({ host: normalizeHost(s.host), port: s.port }));
    this.lookup = options.lookup ?? defaultLookup;
  }

  /** Scheme and credentials of the URL a caller passes, before anything is resolved or sent. */
  checkUrl(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new EgressError('egress-refused', 'invalid-url', 'the endpoint URL was refused: it is not a valid URL');
    }
    if (url.username || url.password) {
      throw new EgressError('egress-refused', 'credentials', `the endpoint URL of ${url.host} was refused: it carries a user name or password; send credentials in headers, not in the URL`);
    }
    this.checkScheme(url.protocol, normalizeHost(url.hostname), Number(url.port) || defaultPort(url.protocol));
    return url;
  }

  /** Resolves a destination and checks every address it answers; the addresses returned are the only ones the connection may use. */
  async check(hostname: string, port: number, protocol: string): Promise<string[]> {
    const host = normalizeHost(hostname);
    this.checkScheme(protocol, host, port);
    const literal = isIP(host) !== 0;
    const answers = literal ? [host] : await this.lookup(host);
    if (answers.length === 0) throw Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' });
    const origin = originOf(protocol, host, port);
    for (const answer of answers) {
      const address = parseAddress(answer);
      const said = literal ? `${host} is` : `${host} resolves to`;
      if (!address) throw new EgressError('egress-refused', 'address', `${origin} was refused: ${said} an address that cannot be checked; ${ALLOW_HINT}`);
      const special = specialRangeOf(address);
      if (special && !this.allowed(host, address, port)) {
        throw new EgressError('egress-refused', 'address', `${origin} was refused: ${said} a ${special} address, which a tenant's endpoint may not reach; ${ALLOW_HINT}`);
      }
      // After the range check, so that without an allow-list a service port is refused like any other loopback or private one.
      if (await this.isPlatformService(host, address, port)) {
        throw new EgressError('egress-refused', 'platform-service', `${origin} was refused: it is an address of the platform's own services, which a tenant's endpoint may never reach`);
      }
    }
    return answers;
  }

  private checkScheme(protocol: string, host: string, port: number): void {
    if (protocol === 'https:') return;
    if (protocol === 'http:' && this.allow.some((e) => e.kind === 'http-origin' && e.port === port && sameHost(e.host, host))) return;
    throw new EgressError(
      'egress-refused',
      'scheme',
      protocol === 'http:'
        ? `${originOf(protocol, host, port)} was refused: a tenant's endpoint must use https, not plain http; if it is yours, allow-list it with HOTDASH_EGRESS_ALLOW as ${originOf(protocol, host, port)}`
        : `the endpoint URL was refused: its scheme ${protocol.replace(/:$/, '')} is not https`,
    );
  }

  private allowed(host: string, address: Address, port: number): boolean {
    return this.allow.some((e) => {
      if (e.port !== undefined && e.port !== port) return false;
      switch (e.kind) {
        case 'address':
          return sameAddress(e.address, address);
        case 'cidr':
          return e.range[0].kind() === address.kind() && address.match(e.range);
        case 'host':
        case 'http-origin':
          return sameHost(e.host, host);
      }
    });
  }

  private async isPlatformService(host: string, address: Address, port: number): Promise<boolean> {
    const addressIsLocal = address.range() === 'loopback' || address.range() === 'unspecified';
    for (const s of this.services) {
      if (s.port !== port) continue;
      if (s.host === host) return true;
      const serviceAddresses = isIP(s.host) ? [s.host] : await this.lookup(s.host).catch(() => [] as string[]);
      for (const text of serviceAddresses) {
        const sa = parseAddress(text);
        if (!sa) continue;
        if (sameAddress(sa, address)) return true;
        // A service on loopback answers on every loopback address; one on 0.0.0.0 on every address of this machine too.
        const saRange = sa.range();
        if ((saRange === 'loopback' || saRange === 'unspecified') && addressIsLocal) return true;
        if (saRange === 'unspecified' && localAddresses().some((l) => sameAddress(l, address))) return true;
      }
    }
    return false;
  }
}

function sameHost(a: string, b: string): boolean {
  if (a === b) return true;
  const x = isIP(a) ? parseAddress(a) : undefined;
  const y = isIP(b) ? parseAddress(b) : undefined;
  return !!x && !!y && sameAddress(x, y);
}

function localAddresses(): Address[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .map((i) => parseAddress(i.address))
    .filter((a): a is Address => !!a);
}

const defaultPort = (protocol: string): number => (protocol === 'https:' ? 443 : 80);
const originOf = (protocol: string, host: string, port: number): string => `${protocol}//${isIP(host) === 6 ? `[${host}]` : host}:${port}`;

/**
 * A `fetch` for URLs a tenant supplied (its own model endpoint; the `openai` SDK takes it as its
 * `fetch` option). Refuses, with an EgressError (`egress-refused`) and before any packet is sent:
 * anything but https (plain http only to an origin allow-listed as `http://host:port`), a user
 * name or password in the URL, and any destination one of whose addresses is loopback, private,
 * CGNAT, link-local (cloud metadata included), unique-local, unspecified, multicast or reserved
 * (IPv4-mapped IPv6 forms too) unless HOTDASH_EGRESS_ALLOW lists it, and the platform's own
 * services always. The check runs in the connector of its own undici Agent, so every new
 * connection (each redirect hop to another origin, each call after the name's answer changed) is
 * checked, and the connection goes to exactly the addresses checked. Each request has a time limit
 * (connect, headers and body: the signal's TimeoutError) and a cap on the body it reads.
 */
export function createEgressFetch(options: EgressOptions = {}): GuardedFetch {
  const policy = new EgressPolicy(options);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const tls = options.ca ? { ca: options.ca } : {};

  const connect: buildConnector.connector = (opts, callback) => {
    const port = Number(opts.port) || defaultPort(opts.protocol);
    policy.check(opts.hostname, port, opts.protocol).then(
      (addresses) => {
        // Why pinned: the socket must go to the addresses just checked, not to a second answer of the resolver.
        const pinned: LookupFunction = (_hostname, lookupOptions, cb) => {
          if (lookupOptions.all) cb(null, addresses.map((address) => ({ address, family: isIP(address) })));
          else cb(null, addresses[0]!, isIP(addresses[0]!));
        };
        try {
          buildConnector({ ...tls, lookup: pinned, maxCachedSessions: 0 })(opts, callback);
        } catch (err) {
          callback(err instanceof Error ? err : new Error(String(err)), null);
        }
      },
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err)), null),
    );
  };
  const newAgent = () => new Agent({ connect });
  let agent = newAgent();

  const guarded = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    let url: string;
    let requestInit: RequestInit = { ...init };
    if (typeof input === 'string') url = input;
    else if ('href' in input) url = input.href;
    else {
      url = input.url;
      const body = input.body ? await input.arrayBuffer() : undefined;
      requestInit = { method: input.method, headers: input.headers, body, redirect: input.redirect, signal: input.signal, ...init };
    }
    const target = policy.checkUrl(url);
    const cut = new AbortController();
    const signals = [AbortSignal.timeout(timeoutMs), cut.signal, ...(requestInit.signal ? [requestInit.signal] : [])];
    let res: UndiciResponse;
    try {
      res = await undiciFetch(target.href, { ...requestInit, signal: AbortSignal.any(signals), dispatcher: agent } as unknown as UndiciRequestInit);
    } catch (err) {
      throw egressErrorOf(err) ?? err;
    }
    return capped(res, maxBytes, cut, target);
  };
  const close = async (): Promise<void> => {
    const closing = agent;
    agent = newAgent();
    await closing.close();
  };
  return Object.assign(guarded, { close }) as GuardedFetch;
}

/**
 * The guard's destination checks for a tenant-supplied endpoint URL at the moment it is configured
 * (the settings API), so a refusal is a clear answer to the admin instead of a failed draft later:
 * scheme (https, plain http only to an allow-listed origin), credentials in the URL, and the
 * addresses the host is or resolves to now (not public unless allow-listed; the platform's own
 * services never). Throws the EgressError the guard would. A name that does not resolve now, or not
 * within `resolveTimeoutMs`, is accepted: createEgressFetch checks every connection again anyway.
 */
export function createEgressUrlCheck(options: EgressOptions & { resolveTimeoutMs?: number } = {}): (url: string) => Promise<URL> {
  const policy = new EgressPolicy(options);
  const resolveTimeoutMs = options.resolveTimeoutMs ?? 2_000;
  return async (raw) => {
    const url = policy.checkUrl(raw);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), resolveTimeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([policy.check(url.hostname, Number(url.port) || defaultPort(url.protocol), url.protocol), late]);
    } catch (err) {
      if (err instanceof EgressError) throw err;
      // not resolvable now: left to the guard's check of each connection
    } finally {
      clearTimeout(timer);
    }
    return url;
  };
}

/** The answer as a standard Response whose body errors (and whose connection is cut) past `maxBytes`. */
function capped(res: UndiciResponse, maxBytes: number, cut: AbortController, target: URL): Response {
  const tooLarge = () =>
    new EgressError(
      'egress-response-too-large',
      'too-large',
      `${target.origin} answered with more than ${maxBytes} bytes, the most read from a tenant's endpoint; the answer was cut`,
    );
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    const err = tooLarge();
    cut.abort(err);
    throw err;
  }
  let seen = 0;
  const nullBody = res.body === null || [101, 204, 205, 304].includes(res.status);
  const body = nullBody
    ? null
    : res.body!.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            seen += chunk.byteLength;
            if (seen <= maxBytes) return controller.enqueue(chunk);
            const err = tooLarge();
            controller.error(err);
            cut.abort(err);
          },
        }),
      );
  const out = new Response(body as ReadableStream<Uint8Array> | null, { status: res.status, statusText: res.statusText, headers: res.headers as unknown as Headers });
  Object.defineProperty(out, 'url', { value: res.url });
  Object.defineProperty(out, 'redirected', { value: res.redirected });
  return out;
}
