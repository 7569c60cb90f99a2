import type { Command } from 'commander';
import { z } from 'zod';
import { credentialsPath, readLogin, removeLogin, writeLogin } from '../credentials';
import { usageError } from '../errors';
import { emit } from '../output';
import type { Context } from '../context';

/** POST /ops/login's answer (identity's OpsToken). */
const opsToken = z.object({ tokenType: z.literal('Bearer'), accessToken: z.string().min(1), expiresIn: z.number().int().positive(), operatorId: z.string() });

/** Reads a password from the terminal without echoing it. */
export function promptHidden(question: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WritableStream = process.stderr): Promise<string> {
  return new Promise((resolve, reject) => {
    let value = '';
    output.write(question);
    input.setRawMode(true);
    input.resume();
    input.setEncoding('utf8');
    const done = (err?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.removeListener('data', onData);
      output.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(usageError('Login cancelled.', 'Run `hotdash-ops login <email>` again.'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    input.on('data', onData);
  });
}

export function sessionCommands(program: Command, ctx: () => Context): void {
  program
    .command('login')
    .description('sign in as a platform operator; keeps the ops token (15 minutes) and the gateway in a file only you can read')
    .argument('<email>', 'the platform operator account (npm run ops:operator -- add <email>)')
    .addHelpText('after', '\nThe password comes from HOTDASH_OPS_PASSWORD, or is asked for without echo. The login is kept in\n$XDG_CONFIG_HOME/hotdash-ops/credentials.json (else ~/.config/hotdash-ops/), mode 0600.')
    .action(async (email: string) => {
      const c = ctx();
      let password = c.env.HOTDASH_OPS_PASSWORD;
      if (!password) {
        if (!process.stdin.isTTY) throw usageError('No password: HOTDASH_OPS_PASSWORD is not set and standard input is not a terminal to ask on.', 'Set HOTDASH_OPS_PASSWORD, or run `hotdash-ops login` in a terminal.');
        password = await promptHidden(`password for ${email}: `);
      }
      if (!password) throw usageError('The password is empty.', 'Type the password of the ops account, or set HOTDASH_OPS_PASSWORD.');
      const gateway = c.gateway();
      const { data } = await c.anonymous().request('POST', '/ops/login', opsToken, { body: { email, password }, login: true });
      const expiresAt = new Date(Date.now() + data.expiresIn * 1000).toISOString();
      const file = writeLogin({ gateway, email, operatorId: data.operatorId, accessToken: data.accessToken, expiresAt }, c.env);
      emit(c.out, { loggedIn: true, email, operatorId: data.operatorId, gateway, expiresAt, credentials: file }, () => `Logged in to ${gateway} as ${email} (operator ${data.operatorId}) until ${expiresAt}.\nCredentials: ${file} (mode 0600).`);
    });

  program
    .command('logout')
    .description('forget the stored ops login on this machine')
    .action(() => {
      const c = ctx();
      const login = readLogin(c.env);
      const removed = removeLogin(c.env);
      emit(c.out, { loggedOut: removed, email: login?.email ?? null, tokenValidUntil: login?.expiresAt ?? null }, () =>
        removed
          ? `Logged out${login ? ` ${login.email}` : ''}: ${credentialsPath(c.env)} removed.${login ? ` The token itself stays valid at the gateway until ${login.expiresAt} (ops tokens are short-lived and not revocable; \`npm run ops:operator -- disable <email>\` stops an account at once).` : ''}`
          : 'Not logged in: nothing to forget.',
      );
    });

  program
    .command('whoami')
    .description('the stored ops login: operator, gateway and when the token expires (exit 3 when there is none or it has expired)')
    .action(() => {
      const c = ctx();
      if (c.env.HOTDASH_OPS_TOKEN) {
        emit(c.out, { email: null, operatorId: null, gateway: c.gateway(), expiresAt: null, source: 'HOTDASH_OPS_TOKEN' }, () => `Using the token in HOTDASH_OPS_TOKEN at ${c.gateway()} (the stored login, if any, is not used).`);
        return;
      }
      // authenticated() throws exit 3 when there is no login, or it has expired.
      c.authenticated();
      const login = readLogin(c.env)!;
      const left = Math.max(0, Math.round((Date.parse(login.expiresAt) - Date.now()) / 60_000));
      emit(c.out, { email: login.email, operatorId: login.operatorId, gateway: c.gateway(), expiresAt: login.expiresAt, source: 'login' }, () => `${login.email} (operator ${login.operatorId}) at ${c.gateway()}; the token expires at ${login.expiresAt} (in about ${left} min).`);
    });
}
