// The dedicated-database commands of the real `hotdash-ops` bin, without services (cheap): bad
// arguments are refused before anything is sent (exit 2 with the contract's message), and valid
// ones get as far as the gateway (here absent: exit 4). The commands' work itself is covered by
// libs/provisioning/src/dedicated.int-spec.ts through the same ops API.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliDoc, opsCli } from '@hotdash/testing';

const configHome = mkdtempSync(join(tmpdir(), 'hotdash-ops-dedicated-spec-'));
// Nothing listens on port 1: a command that got as far as sending exits 4, not 2.
const cli = opsCli(configHome, 'http://127.0.0.1:1', 30_000);
const TENANT = '01900000-0000-7000-8000-0000000000aa';
const error = (r: { code: number; stdout: string; stderr: string }) => [r.code, (cliDoc(r).error as { code: string; detail?: string })];

afterAll(() => rmSync(configHome, { recursive: true, force: true }));

it('refuses bad dedicate and share arguments before sending anything, and sends good ones', async () => {
  const env = { HOTDASH_OPS_TOKEN: 'not-a-real-token' };
  expect(error(await cli(['tenants', 'dedicate', TENANT, '--reuse', '--host', 'db.example', '--json'], env))).toEqual([
    2,
    expect.objectContaining({ code: 'usage', detail: expect.stringMatching(/reuse takes a free dedicated shard as it is/) }),
  ]);
  expect(error(await cli(['tenants', 'dedicate', TENANT, '--database', 'Bad-Name', '--json'], env))).toEqual([2, expect.objectContaining({ code: 'usage' })]);
  expect(error(await cli(['tenants', 'share', 'not-a-tenant', '--json'], env))).toEqual([2, expect.objectContaining({ code: 'usage' })]);
  expect(error(await cli(['tenants', 'undedicate', TENANT, '--keep', '--dry-run', '--json'], env))).toEqual([4, expect.objectContaining({ code: 'gateway-unreachable' })]);
}, 60_000);
