// The egress guard's checks of a tenant's endpoint URL at the moment it is configured (the settings
// API): the same refusals as the guard, before anything is sent; names resolve through an injected
// lookup only, so no network is used.
import { createEgressUrlCheck, EgressError } from './egress';

const lookups: Record<string, string[]> = {
  'models.example.com': ['93.184.216.34'],
  'internal.example.com': ['10.0.0.7'],
  'mixed.example.com': ['93.184.216.34', '169.254.169.254'],
};
const lookup = async (host: string): Promise<string[]> => {
  if (host === 'slow.example.com') return new Promise(() => undefined);
  const found = lookups[host];
  if (!found) throw Object.assign(new Error(`${host} not found`), { code: 'ENOTFOUND' });
  return found;
};

const check = (allow = '', platformServices = [{ host: '127.0.0.1', port: 54329 }]) => createEgressUrlCheck({ allow, env: {}, platformServices, lookup, resolveTimeoutMs: 50 });

const refusal = async (p: Promise<unknown>): Promise<string> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof EgressError)) throw new Error(`expected an EgressError, got ${String(err)}`);
  return err.reason;
};

it('accepts a public https endpoint, and a name that does not resolve now (the guard checks each connection)', async () => {
  expect((await check()('https://models.example.com/v1')).href).toBe('https://models.example.com/v1');
  await expect(check()('https://not-there.example.com/v1')).resolves.toBeInstanceOf(URL);
  await expect(check()('https://slow.example.com/v1')).resolves.toBeInstanceOf(URL);
});

it.each([
  ['http://models.example.com/v1', '', 'scheme'],
  ['ftp://models.example.com/v1', '', 'scheme'],
  ['https://user:secret@models.example.com/v1', '', 'credentials'],
  ['https://127.0.0.1:8443/v1', '', 'address'],
  ['https://[::1]:8443/v1', '', 'address'],
  ['https://internal.example.com/v1', '', 'address'],
  ['https://mixed.example.com/v1', '', 'address'],
  ['https://169.254.169.254/latest', '', 'address'],
  ['https://127.0.0.1:54329/v1', '127.0.0.1', 'platform-service'],
  ['not a url', '', 'invalid-url'],
])('refuses %s (allow-list %j): %s', async (url, allow, reason) => {
  expect(await refusal(check(allow)(url))).toBe(reason);
});

it('takes what HOTDASH_EGRESS_ALLOW permits: plain http to exactly an allow-listed origin, an allow-listed private address', async () => {
  await expect(check('http://127.0.0.1:4100')('http://127.0.0.1:4100/v1')).resolves.toBeInstanceOf(URL);
  expect(await refusal(check('http://127.0.0.1:4100')('http://127.0.0.1:4101/v1'))).toBe('scheme');
  await expect(check('10.0.0.0/8')('https://internal.example.com/v1')).resolves.toBeInstanceOf(URL);
});
