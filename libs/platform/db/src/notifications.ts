import { Client } from 'pg';
import { Databases, DbLocation, DbRole } from './databases';

export interface Listener {
  close(): Promise<void>;
  /** @internal specs: the server process of the listening connection, while connected. */
  backendPid(): number | undefined;
}

/**
 * LISTEN on a channel with a dedicated connection (a pooled one would lose the subscription).
 * Reconnects with backoff when the connection drops; `onNotify` gets each notification's payload,
 * and is also called without one after each (re)connect, since notifications sent while
 * disconnected are lost.
 */
export function listen(dbs: Databases, location: DbLocation, role: DbRole, channel: string, onNotify: (payload?: string) => void): Listener {
  let closed = false;
  let client: Client | undefined;
  let delay = 200;
  let retry: NodeJS.Timeout | undefined;
  let listening: Client | undefined;
  const later = (): void => {
    if (!closed) retry = setTimeout(() => void connect(), delay);
  };
  const connect = async (): Promise<void> => {
    if (closed) return;
    const creds = dbs.credentials(role);
    const c = new Client({ ...location, user: creds.user, password: creds.password, application_name: `hotdash-listen-${channel}` });
    client = c;
    c.on('notification', (n) => onNotify(n.payload ?? ''));
    c.on('error', () => undefined);
    c.on('end', later);
    try {
      await c.connect();
      await c.query(`listen ${channel.replace(/[^a-z0-9_]/g, '')}`);
      if (closed) throw new Error('closed');
      listening = c;
      c.on('end', () => {
        if (listening === c) listening = undefined;
      });
      delay = 200;
      onNotify();
    } catch {
      c.removeListener('end', later);
      await c.end().catch(() => undefined);
      delay = Math.min(delay * 2, 5_000);
      later();
    }
  };
  void connect();
  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      await client?.end().catch(() => undefined);
    },
    backendPid: () => (listening as unknown as { processID?: number } | undefined)?.processID,
  };
}
