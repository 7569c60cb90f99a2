import { OpsClient } from './client';
import { credentialsPath, readLogin, type StoredLogin } from './credentials';
import { notLoggedIn, usageError } from './errors';
import type { Output } from './output';

export const DEFAULT_GATEWAY = 'http://127.0.0.1:3100';

/** What every command gets: where to write, the environment, and the gateway and login to use. */
export class Context {
  constructor(
    readonly out: Output,
    readonly env: NodeJS.ProcessEnv,
    private readonly gatewayOption?: string,
  ) {}

  /** The stored login, if any (read each time: a command may have just written it). */
  login(): StoredLogin | undefined {
    return readLogin(this.env);
  }

  /** --gateway, else HOTDASH_GATEWAY_URL, else the gateway of the stored login, else the local default. */
  gateway(): string {
    const url = this.gatewayOption ?? this.env.HOTDASH_GATEWAY_URL ?? this.login()?.gateway ?? DEFAULT_GATEWAY;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw usageError(`The gateway URL "${url}" is not a URL.`, 'Give --gateway (or HOTDASH_GATEWAY_URL) as http(s)://host:port, e.g. http://127.0.0.1:3100.');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw usageError(`The gateway URL "${url}" is not http or https.`, 'Give --gateway as http(s)://host:port.');
    return url.replace(/\/+$/, '');
  }

  /** A client without credentials (login). */
  anonymous(): OpsClient {
    return new OpsClient(this.gateway());
  }

  /** A client with the ops token: HOTDASH_OPS_TOKEN, else the stored login (exit 3 when there is none or it has expired). */
  authenticated(now = Date.now()): OpsClient {
    if (this.env.HOTDASH_OPS_TOKEN) return new OpsClient(this.gateway(), this.env.HOTDASH_OPS_TOKEN);
    const login = this.login();
    if (!login) throw notLoggedIn(`No ops login on this machine (${credentialsPath(this.env)}).`);
    if (Date.parse(login.expiresAt) <= now) throw notLoggedIn(`The ops session of ${login.email} expired at ${login.expiresAt}.`, 'token-expired');
    return new OpsClient(this.gateway(), login.accessToken);
  }
}
