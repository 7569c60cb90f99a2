import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { accessToken, api, must, problemMessage } from '../api/client';
import type { paths } from '../api/schema';

type Page = paths['/audit-log']['get']['responses'][200]['content']['application/json'];
type Entry = Page['entries'][number];
type Verification = paths['/audit-log/verify']['get']['responses'][200]['content']['application/json'];

/** `user:<uuid>` as `user 01ab23cd` (the whole id in the title), `service:<name>` as is. */
const actorLabel = (actor: string | null): string => {
  if (!actor) return 'system';
  const [kind, id = ''] = actor.split(':', 2) as [string, string?];
  return /^[0-9a-f-]{36}$/.test(id) ? `${kind} ${id.slice(0, 8)}` : actor;
};
const when = (iso: string) => new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const REASONS: Record<string, string> = {
  'hash-mismatch': 'an entry was changed after it was written',
  'prev-hash-mismatch': 'an entry does not follow the one before it',
  'seq-gap': 'an entry is missing',
  'missing-entries': 'entries are missing from the end',
  'head-mismatch': 'the chain does not end where it should',
  'head-missing': 'the chain’s recorded end is missing',
};

/** The tenant's audit log: filter by event type, actor and time; verify the hash chain; export it all as NDJSON. */
export function AuditLog() {
  const [filters, setFilters] = useState({ eventType: '', actor: '', from: '', to: '' });
  const [applied, setApplied] = useState(filters);
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [verification, setVerification] = useState<Verification | null>(null);
  const [busy, setBusy] = useState(false);

  const query = (after?: number) => {
    const q: Record<string, string> = { limit: '50' };
    if (applied.eventType.trim()) q.eventType = applied.eventType.trim();
    if (applied.actor.trim()) q.actor = applied.actor.trim();
    if (applied.from) q.from = new Date(`${applied.from}T00:00:00`).toISOString();
    if (applied.to) q.to = new Date(`${applied.to}T23:59:59.999`).toISOString();
    if (after !== undefined) q.after = String(after);
    return q;
  };

  const load = useCallback(
    async (after?: number) => {
      setError(null);
      try {
        const page = must(await api.GET('/audit-log', { params: { query: query(after) as never } }));
        setEntries((prev) => (after !== undefined && prev ? [...prev, ...page.entries] : page.entries));
        setNext(page.next);
      } catch (e) {
        setError((e as Error).message);
      }
    },
    [applied],
  );
  useEffect(() => {
    void load();
  }, [load]);

  const verify = async () => {
    setBusy(true);
    setVerification(null);
    try {
      setVerification(must(await api.GET('/audit-log/verify')));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  /** The export is a file: fetched with the session's token, then handed to the browser as a download. */
  const exportAll = async () => {
    setBusy(true);
    try {
      const res = await fetch('/audit-log/export', { headers: { authorization: `Bearer ${await accessToken()}` } });
      if (!res.ok) throw new Error(problemMessage(await res.json().catch(() => null), res.status));
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement('a');
      a.href = url;
      a.download = `audit-log-${new Date().toISOString().slice(0, 10)}.ndjson`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setApplied(filters);
  };

  return (
    <div className="page">
      <h1>Audit log</h1>
      <div className="actions">
        <button type="button" onClick={verify} disabled={busy}>
          Verify the chain
        </button>
        <button type="button" className="secondary" onClick={exportAll} disabled={busy}>
          Export (NDJSON)
        </button>
      </div>
      <div aria-live="polite" className="live">
        {verification &&
          (verification.ok ? (
            <p className="ok">The chain is intact: {verification.checked} entries checked.</p>
          ) : (
            <p className="error">
              The chain is broken at entry {verification.firstBroken?.seq}: {REASONS[verification.firstBroken?.reason ?? ''] ?? verification.firstBroken?.reason}.
            </p>
          ))}
      </div>
      <form className="filters-form" onSubmit={submit}>
        <h2 className="sr-only">Filter</h2>
        <div className="fields">
          <div>
            <label htmlFor="f-type">Event type</label>
            <input id="f-type" placeholder="e.g. draft.approved" value={filters.eventType} onChange={(e) => setFilters({ ...filters, eventType: e.target.value })} />
          </div>
          <div>
            <label htmlFor="f-actor">Actor (user id)</label>
            <input id="f-actor" value={filters.actor} onChange={(e) => setFilters({ ...filters, actor: e.target.value })} />
          </div>
          <div>
            <label htmlFor="f-from">From</label>
            <input id="f-from" type="date" value={filters.from} onChange={(e) => setFilters({ ...filters, from: e.target.value })} />
          </div>
          <div>
            <label htmlFor="f-to">To</label>
            <input id="f-to" type="date" value={filters.to} onChange={(e) => setFilters({ ...filters, to: e.target.value })} />
          </div>
        </div>
        <button type="submit">Apply filters</button>
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {entries === null ? (
        <p role="status">Loading entries…</p>
      ) : entries.length === 0 ? (
        <p>No entries match.</p>
      ) : (
        <div className="table-wrap" tabIndex={0} role="region" aria-label="Audit entries">
          <table className="audit">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">When</th>
                <th scope="col">Event</th>
                <th scope="col">Actor</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.id}>
                  <td>{e.seq}</td>
                  <td>{when(e.occurredAt)}</td>
                  <th scope="row">{e.eventType}</th>
                  <td className="mono" title={e.actorId ?? undefined}>
                    {actorLabel(e.actorId)}
                  </td>
                  <td>
                    <details>
                      <summary>Payload</summary>
                      <pre>{JSON.stringify(e.payload, null, 2)}</pre>
                    </details>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {next !== null && (
        <button type="button" className="secondary" onClick={() => void load(next)}>
          Show more
        </button>
      )}
    </div>
  );
}
