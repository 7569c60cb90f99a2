import { useEffect, useRef, useState } from 'react';
import { accessToken, refreshSession } from './api/client';

/** One change of the caller's queue, as GET /queue/stream sends it: ids and a kind, never ticket text. */
export interface QueueChange {
  ticketId: string;
  kind: string;
}

/** live: changes arrive as they happen; connecting: (re)connecting; paused: no stream (the slow poll is all there is). */
export type LiveState = 'connecting' | 'live' | 'paused';

/** No byte (not even a heartbeat, every 15 s) for this long: the stream is taken for dead and opened again. */
const SILENCE_MS = 45_000;
const MAX_BACKOFF_MS = 30_000;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/**
 * The queue's server push (Server-Sent Events read with fetch, so the access token goes in the
 * Authorization header, never in the address). `onResync` on every (re)connect (`ready`: re-read
 * once, so nothing changed meanwhile is missed) and on `resync`; `onChange` per change. Reconnects
 * with backoff (at once after a server's shutdown; after refreshing the token when it expired).
 */
export function useQueueStream(handlers: { onChange: (c: QueueChange) => void; onResync: () => void }): LiveState {
  const [state, setState] = useState<LiveState>('connecting');
  const latest = useRef(handlers);
  latest.current = handlers;

  useEffect(() => {
    const stop = new AbortController();
    let failures = 0;

    /** Reads one stream to its end; the `closed` reason the server gave, if any. */
    const read = async (body: ReadableStream<Uint8Array>, abort: AbortController): Promise<string | undefined> => {
      const reader = body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      let silence = setTimeout(() => abort.abort(), SILENCE_MS);
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return undefined;
          clearTimeout(silence);
          silence = setTimeout(() => abort.abort(), SILENCE_MS);
          buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
          for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
            const frame = buffer.slice(0, at);
            buffer = buffer.slice(at + 2);
            let event = 'message';
            const data: string[] = [];
            for (const line of frame.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
            }
            if (!data.length) continue;
            const payload = JSON.parse(data.join('\n')) as Record<string, unknown>;
            if (event === 'ready') {
              failures = 0;
              setState('live');
              latest.current.onResync();
            } else if (event === 'resync') latest.current.onResync();
            else if (event === 'change') latest.current.onChange(payload as unknown as QueueChange);
            else if (event === 'closed') return String(payload.reason ?? '');
          }
        }
      } finally {
        clearTimeout(silence);
        reader.cancel().catch(() => undefined);
      }
    };

    void (async () => {
      while (!stop.signal.aborted) {
        const token = await accessToken();
        if (!token) return setState('paused');
        const abort = new AbortController();
        stop.signal.addEventListener('abort', () => abort.abort(), { once: true });
        let reason: string | undefined;
        let status = 0;
        try {
          const res = await fetch('/queue/stream', { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, cache: 'no-store', signal: abort.signal });
          status = res.status;
          if (res.ok && res.body) reason = await read(res.body, abort);
        } catch {
          // the network, or the silence watchdog: reconnect below
        }
        if (stop.signal.aborted) return;
        setState(status === 429 ? 'paused' : 'connecting');
        // A token refused: refreshed (a session that cannot be refreshed is over: the portal signs out).
        if (status === 401 && !(await refreshSession())) return setState('paused');
        if (reason === 'token-expired' || reason === 'shutdown') {
          // Expired: accessToken() refreshes it first; shutdown: another gateway takes the stream.
          failures = 0;
          await sleep(200 + Math.random() * 800, stop.signal);
          continue;
        }
        failures++;
        const backoff = Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** Math.min(failures - 1, 5));
        await sleep(backoff / 2 + (Math.random() * backoff) / 2, stop.signal);
      }
    })();
    return () => stop.abort();
  }, []);

  return state;
}
