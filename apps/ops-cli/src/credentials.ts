import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

/** What `login` keeps: never the password; the token only in a file that only its owner may read. */
export const storedLogin = z.object({
  gateway: z.string(),
  email: z.string(),
  operatorId: z.string(),
  accessToken: z.string(),
  /** ISO time after which the gateway refuses the token (ops tokens have no refresh: log in again). */
  expiresAt: z.string(),
});
export type StoredLogin = z.infer<typeof storedLogin>;

/** $XDG_CONFIG_HOME/hotdash-ops, else ~/.config/hotdash-ops. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), '.config');
  return join(base, 'hotdash-ops');
}

export const credentialsPath = (env: NodeJS.ProcessEnv = process.env): string => join(configDir(env), 'credentials.json');

/** The stored login, or undefined when there is none (or it cannot be read as one). */
export function readLogin(env: NodeJS.ProcessEnv = process.env): StoredLogin | undefined {
  let text: string;
  try {
    text = readFileSync(credentialsPath(env), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = storedLogin.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the login: the folder 0700, the file 0600 (also when it existed with wider modes). */
export function writeLogin(login: StoredLogin, env: NodeJS.ProcessEnv = process.env): string {
  const dir = configDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const file = credentialsPath(env);
  // Created with 0600 before any byte of the token is in it; an older file is narrowed first.
  writeFileSync(file, '', { mode: 0o600, flag: 'a' });
  chmodSync(file, 0o600);
  writeFileSync(file, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  return file;
}

/** Removes the stored login; whether there was one. */
export function removeLogin(env: NodeJS.ProcessEnv = process.env): boolean {
  const file = credentialsPath(env);
  const had = existsSync(file);
  rmSync(file, { force: true });
  return had;
}
