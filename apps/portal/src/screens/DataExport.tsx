import { type FormEvent, useCallback, useState } from 'react';
import { accessToken, api, must, problemMessage, saveFile } from '../api/client';
import type { paths } from '../api/schema';
import { usePoll } from '../usePoll';

type Run = paths['/exports/{id}']['get']['responses'][200]['content']['application/json'];

const STATUS: Record<Run['status'], string> = { queued: 'Queued', running: 'Running', succeeded: 'Ready', failed: 'Failed', expired: 'Expired' };
const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : '—');
const size = (bytes: number | null) => (bytes === null ? '' : bytes < 1024 * 1024 ? `${Math.max(1, Math.round(bytes / 1024))} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`);

/**
 * Data export (admins; CCPA): the organisation's whole data set, or one customer's by e-mail, as
 * JSON lines made in the background; the list follows their progress (polled every 2 s while one
 * runs) and offers each finished export's download until its link expires.
 */
export function DataExport() {
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [kind, setKind] = useState<'tenant' | 'subject'>('tenant');
  const [email, setEmail] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      setRuns(must(await api.GET('/exports')).exports);
    } catch (e) {
      setError((e as Error).message);
    }
  }, []);
  const active = runs?.some((r) => r.status === 'queued' || r.status === 'running') ?? false;
  // Every 2 s while an export is on its way; every 30 s otherwise (a link may expire meanwhile).
  usePoll(load, active ? 2_000 : 30_000, [active]);

  const start = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const run = must(await api.POST('/exports', { body: kind === 'tenant' ? { kind: 'tenant' } : { kind: 'subject', email: email.trim() } }));
      setRuns((rs) => [run, ...(rs ?? []).filter((r) => r.id !== run.id)]);
      setDone(kind === 'tenant' ? 'Export of the organisation started: it is listed below with its progress.' : 'Export of the customer’s data started: it is listed below with its progress.');
      setEmail('');
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  /** The file is fetched with the session's token (the link is for the admin's credential), then handed to the browser. */
  const download = async (run: Run) => {
    if (!run.download) return;
    setError(null);
    try {
      const res = await fetch(run.download.url, { headers: { authorization: `Bearer ${await accessToken()}` } });
      if (!res.ok) throw new Error(problemMessage(await res.json().catch(() => null), res.status));
      saveFile(await res.blob(), `hotdash-export-${run.kind}-${run.createdAt.slice(0, 10)}-${run.id.slice(0, 8)}.ndjson`);
    } catch (err) {
      setError((err as Error).message);
      await load();
    }
  };

  return (
    <div className="page">
      <h1>Data export</h1>
      <form className="upload" onSubmit={start}>
        <h2>New export</h2>
        <fieldset className="plain" disabled={busy}>
          <legend>What to export</legend>
          <label className="check">
            <input type="radio" name="export-kind" checked={kind === 'tenant'} onChange={() => setKind('tenant')} /> The whole organisation (every table, knowledge documents, the audit log)
          </label>
          <label className="check">
            <input type="radio" name="export-kind" checked={kind === 'subject'} onChange={() => setKind('subject')} /> One customer’s data (their tickets, drafts and replies)
          </label>
        </fieldset>
        {kind === 'subject' && (
          <>
            <label htmlFor="export-email">Customer’s e-mail address</label>
            <input id="export-email" type="email" required maxLength={320} value={email} onChange={(e) => setEmail(e.target.value)} disabled={busy} />
          </>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div aria-live="polite" className="live">
          {done && <p className="ok">{done}</p>}
        </div>
        <button type="submit" disabled={busy}>
          Start export
        </button>
        <p className="hint">Exports are JSON lines (docs/exports.md), with encrypted fields decrypted. Each download link expires, and then the file is deleted.</p>
      </form>

      <h2>Exports</h2>
      {runs === null ? (
        <p role="status">Loading exports…</p>
      ) : runs.length === 0 ? (
        <p>No exports yet.</p>
      ) : (
        <div className="table-wrap" role="region" aria-label="Exports" tabIndex={0}>
          <table className="exports">
            <caption className="sr-only">Your organisation’s latest exports, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Export</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col" className="optional">
                  Started
                </th>
                <th scope="col">File</th>
              </tr>
            </thead>
            <tbody>
              {runs.map((r) => {
                const label = `${r.kind === 'tenant' ? 'Organisation' : 'Customer'} export of ${when(r.createdAt)}`;
                return (
                  <tr key={r.id} data-export={r.id} data-status={r.status}>
                    <th scope="row">{r.kind === 'tenant' ? 'Whole organisation' : 'One customer'}</th>
                    <td>
                      <span className={`badge ${r.status}`}>{STATUS[r.status]}</span>
                      {r.error && <div className="error-text">{r.error}</div>}
                    </td>
                    <td>
                      {r.status === 'queued' || r.status === 'running' ? (
                        <>
                          <progress max={Math.max(1, r.progress.rowsEstimated)} value={Math.min(r.progress.rowsDone, Math.max(1, r.progress.rowsEstimated))} aria-label={`${label}: progress`} />{' '}
                          <span className="muted">
                            {r.progress.rowsDone.toLocaleString()} of {r.progress.rowsEstimated.toLocaleString()} rows
                          </span>
                        </>
                      ) : (
                        <span>{r.progress.rowsDone.toLocaleString()} rows</span>
                      )}
                    </td>
                    <td className="optional">{when(r.createdAt)}</td>
                    <td>
                      {r.download ? (
                        <div className="row-actions">
                          <button type="button" className="small" onClick={() => void download(r)} aria-label={`Download the ${label.charAt(0).toLowerCase()}${label.slice(1)}`}>
                            Download
                          </button>
                          <span className="muted">
                            {size(r.bytes)} until {when(r.download.expiresAt)}
                          </span>
                        </div>
                      ) : r.status === 'expired' ? (
                        <span>Expired {r.expiresAt ? `on ${when(r.expiresAt)}` : ''}: the file was deleted</span>
                      ) : r.status === 'failed' ? (
                        <span>None</span>
                      ) : (
                        <span className="muted">When ready</span>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
