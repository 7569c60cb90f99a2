import { Client } from 'pg';
import { Databases, DbLocation, DbRole } from './databases';

export interface Listener {
  close(): Promise<void>;
}

/**
 * LISTEN on a channel with a dedicated connection (a pooled one would lose the subscription).
 * Reconnects with backoff when the connection drops; `onNotify` is also called after each reconnect,
 * since notifications sent while disconnected are lost.
 */
export function listen(dbs: Databases, location: DbLocation, role: DbRole, channel: string, onNotify: () => void): Listener {
  let closed = false;
  let client: Client | undefined;
  let delay = 200;
  const connect = async (): Promise<void> => {
    if (closed) return;
    const creds = dbs.credentials(role);
    const c = new Client({ ...location, user: creds.user, password: creds.password, application_name: `hotdash-listen-${channel}` });
    c.on('notification', () => onNotify());
    c.on('error', () => undefined);
    c.on('end', () => {
      if (!closed) setTimeout(() => void connect(), delay);
    });
    try {
      await c.connect();
      await c.query(`listen ${channel.replace(/[^a-z0-9_]/g, '')}`);
      client = c;
      delay = 200;
      onNotify();
    } catch {
      c.removeAllListeners('end');
      await c.end().catch(() => undefined);
      delay = Math.min(delay * 2, 5_000);
      if (!closed) setTimeout(() => void connect(), delay);
    }
  };
  void connect();
  return {
    async close() {
      closed = true;
      await client?.end().catch(() => undefined);
    },
  };
}
