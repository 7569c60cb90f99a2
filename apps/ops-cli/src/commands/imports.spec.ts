// The pilot's env file as `hotdash-ops imports start --pilot-env` reads it: the settings a pilot runs
// with (docs/pilot.md, deploy/pilot/pilot.env.example), as a shell would read them. The pilot's
// import role as the command takes it: its password from the environment, a file or the prompt,
// never from a command-line argument.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError } from '../errors';
import { pilotCredentialsFrom, readEnvFile, type Terminal } from './imports';

const dir = mkdtempSync(join(tmpdir(), 'hotdash-ops-env-spec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('reads HOTDASH_* settings: comments, export, quotes and blanks as a shell would; other variables ignored', () => {
  const file = join(dir, 'pilot.env');
  writeFileSync(
    file,
    [
      '# a pilot',
      '',
      'HOTDASH_PG_HOST=10.20.0.5',
      'export HOTDASH_PG_PORT = 5432',
      'HOTDASH_KMS_MASTER_KEYS="acme-k1:AAAA+/==,old:BBBB="',
      "HOTDASH_WEAVIATE_URL='http://10.20.0.6:8080'",
      'NODE_ENV=production',
      '  # indented comment',
      'HOTDASH_CONTROL_DATABASE=hotdash_acme_control\r',
    ].join('\n'),
  );
  expect(readEnvFile(file)).toEqual({
    HOTDASH_PG_HOST: '10.20.0.5',
    HOTDASH_PG_PORT: '5432',
    HOTDASH_KMS_MASTER_KEYS: 'acme-k1:AAAA+/==,old:BBBB=',
    HOTDASH_WEAVIATE_URL: 'http://10.20.0.6:8080',
    HOTDASH_CONTROL_DATABASE: 'hotdash_acme_control',
  });
});

it('refuses a file it cannot read as a usage error (exit 2), naming it', () => {
  const missing = join(dir, 'missing.env');
  let err: unknown;
  try {
    readEnvFile(missing);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CliError);
  expect(err).toMatchObject({ exitCode: 2, detail: expect.stringContaining(missing) });
});

describe('the pilot’s import role', () => {
  const noTerminal: Terminal = { isTTY: false, prompt: () => Promise.reject(new Error('no terminal to ask on')) };
  const failure = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      return e;
    }
    throw new Error('no error');
  };

  it('takes the password from HOTDASH_PILOT_DB_PASSWORD, the name from --pilot-user, HOTDASH_PILOT_DB_USER or hotdash_import', async () => {
    expect(await pilotCredentialsFrom({}, { HOTDASH_PILOT_DB_PASSWORD: 's3cret' }, noTerminal)).toEqual({ user: 'hotdash_import', password: 's3cret' });
    expect(await pilotCredentialsFrom({}, { HOTDASH_PILOT_DB_USER: 'acme_import', HOTDASH_PILOT_DB_PASSWORD: 's3cret' }, noTerminal)).toEqual({ user: 'acme_import', password: 's3cret' });
    expect(await pilotCredentialsFrom({ pilotUser: 'other' }, { HOTDASH_PILOT_DB_USER: 'acme_import', HOTDASH_PILOT_DB_PASSWORD: 's3cret' }, noTerminal)).toEqual({ user: 'other', password: 's3cret' });
  });

  it('takes it from --pilot-password-file (its first line) before the environment', async () => {
    const file = join(dir, 'password');
    writeFileSync(file, 'from the file \nsecond line\n', { mode: 0o600 });
    expect(await pilotCredentialsFrom({ pilotPasswordFile: file }, { HOTDASH_PILOT_DB_PASSWORD: 'from the env' }, noTerminal)).toEqual({ user: 'hotdash_import', password: 'from the file ' });
    const missing = join(dir, 'no-such-password');
    expect(await failure(pilotCredentialsFrom({ pilotPasswordFile: missing }, {}, noTerminal))).toMatchObject({ exitCode: 2, detail: expect.stringContaining(missing) });
    writeFileSync(file, '\n');
    expect(await failure(pilotCredentialsFrom({ pilotPasswordFile: file }, {}, noTerminal))).toMatchObject({ exitCode: 2, detail: expect.stringContaining('is empty') });
  });

  it('asks for it without echo on a terminal, and is a usage error (exit 2) without one', async () => {
    const asked: string[] = [];
    const terminal: Terminal = { isTTY: true, prompt: async (q) => (asked.push(q), 'typed') };
    expect(await pilotCredentialsFrom({ pilotUser: 'acme_import' }, {}, terminal)).toEqual({ user: 'acme_import', password: 'typed' });
    expect(asked).toEqual([expect.stringContaining('acme_import')]);
    const err = await failure(pilotCredentialsFrom({}, {}, noTerminal));
    expect(err).toBeInstanceOf(CliError);
    expect(err).toMatchObject({ exitCode: 2, detail: expect.stringContaining('HOTDASH_PILOT_DB_PASSWORD'), hint: expect.stringContaining('never put the password on the command line') });
    expect(await failure(pilotCredentialsFrom({}, {}, { isTTY: true, prompt: async () => '' }))).toMatchObject({ exitCode: 2, detail: 'The password is empty.' });
  });
});
