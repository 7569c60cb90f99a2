import { type FormEvent, useEffect, useRef, useState } from 'react';
import { api, must, saveFile } from '../api/client';
import type { paths } from '../api/schema';
import { usePoll } from '../usePoll';

type View = paths['/privacy/erasures/{id}']['get']['responses'][200]['content']['application/json'];

const STORES: Record<string, string> = {
  'subject-keys': 'Data keys',
  postgresql: 'Database (PostgreSQL)',
  kafka: 'Event log (Kafka)',
  outbox: 'Outbox',
  backups: 'Backups',
  redis: 'Cache (Redis)',
  mail: 'Mail',
  'vector-store': 'Vector store',
};
const METHODS: Record<string, string> = { deleted: 'Deleted', shredded: 'Made unreadable (key destroyed)', 'none-held': 'Nothing held' };
const LAST = 'hotdash.erasure';

/**
 * Erasure of one data subject (admins; GDPR): the customer by e-mail, a confirmation step, then the
 * erasure's progress across every store (polled each second while it runs) and the certificate the
 * platform signed, shown and downloadable as JSON. The last erasure of this tab is kept across a
 * reload (its id only: the address is never stored).
 */
export function Erasure() {
  const [email, setEmail] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [erasure, setErasure] = useState<View | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const confirmRef = useRef<HTMLHeadingElement>(null);

  const fetchOne = async (id: string) => {
    try {
      setErasure(must(await api.GET('/privacy/erasures/{id}', { params: { path: { id } } })));
    } catch (e) {
      sessionStorage.removeItem(LAST);
      setError((e as Error).message);
    }
  };
  useEffect(() => {
    const last = sessionStorage.getItem(LAST);
    if (last) void fetchOne(last);
  }, []);
  const running = erasure?.status === 'running';
  usePoll(
    async () => {
      if (erasure && running) await fetchOne(erasure.id);
    },
    1_000,
    [erasure?.id, running],
  );
  useEffect(() => {
    if (confirming) confirmRef.current?.focus();
  }, [confirming]);

  const ask = (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    if (!email.trim()) return setError('Type the customer’s e-mail address.');
    setConfirming(true);
  };

  const erase = async () => {
    setBusy(true);
    setError(null);
    try {
      const view = must(await api.POST('/privacy/erasures', { body: { email: email.trim() } }));
      sessionStorage.setItem(LAST, view.id);
      setErasure(view);
      setConfirming(false);
      setEmail('');
    } catch (err) {
      setError((err as Error).message);
      setConfirming(false);
    } finally {
      setBusy(false);
    }
  };

  const cert = erasure?.certificate ?? null;
  return (
    <div className="page">
      <h1>Erasure</h1>
      <p>Erase everything your organisation holds about one customer: their tickets, drafts, replies and mail, in every store and copy. Their data keys are destroyed, so copies in the event log and in backups can never be read again. The platform signs a certificate of what was erased where.</p>
      {!confirming ? (
        <form className="upload" onSubmit={ask} noValidate>
          <h2>Erase a customer’s data</h2>
          <label htmlFor="erase-email">Customer’s e-mail address</label>
          <input id="erase-email" type="email" required maxLength={320} value={email} onChange={(e) => setEmail(e.target.value)} aria-describedby={error ? 'erase-error' : undefined} />
          {error && (
            <p id="erase-error" className="error" role="alert">
              {error}
            </p>
          )}
          <button type="submit">Continue</button>
        </form>
      ) : (
        <section className="upload confirm" aria-labelledby="erase-confirm">
          <h2 id="erase-confirm" tabIndex={-1} ref={confirmRef}>
            Erase every record of {email.trim()}?
          </h2>
          <p>This cannot be undone: their tickets, drafts and replies are deleted and their data keys destroyed. Exports already downloaded are not affected.</p>
          <div className="actions">
            <button type="button" className="danger" disabled={busy} onClick={erase}>
              {busy ? 'Starting…' : 'Yes, erase this customer’s data'}
            </button>
            <button type="button" className="secondary" disabled={busy} onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        </section>
      )}

      {erasure && (
        <section className="erasure" aria-labelledby="erasure-title" data-erasure={erasure.id} data-status={erasure.status}>
          <h2 id="erasure-title">{erasure.status === 'running' ? 'Erasure running' : erasure.status === 'succeeded' ? 'Erasure complete' : 'Erasure failed'}</h2>
          <p>
            <progress max={Math.max(1, erasure.progress.total)} value={erasure.progress.done} aria-label="Erasure progress" /> {erasure.progress.done} of {erasure.progress.total} stores
            {erasure.finishedAt ? `, finished ${new Date(erasure.finishedAt).toLocaleString()}` : ''}
          </p>
          {erasure.error && (
            <p className="error" role="alert">
              {erasure.error}
            </p>
          )}
          {!cert && (
            <ul className="steps">
              {erasure.steps.map((s) => (
                <li key={s.store}>
                  {STORES[s.store] ?? s.store}: {s.status === 'done' ? `done${s.count !== null ? ` (${s.count})` : ''}` : 'pending'}
                </li>
              ))}
            </ul>
          )}
          {cert && (
            <>
              <h3>Certificate</h3>
              <p>
                Signed by the platform ({cert.signature.alg}, key {cert.signature.keyId}) on {new Date(cert.certificate.completedAt).toLocaleString()}; check it with <code className="mono">hotdash-ops certificate verify</code>. The customer is named only by their blind index, never by address.
              </p>
              {/* Focusable, so a keyboard can scroll it where it is wider than the screen. */}
              <div className="table-wrap" role="region" aria-label="Certificate: what was erased where" tabIndex={0}>
                <table className="certificate">
                  <caption className="sr-only">What was erased where</caption>
                  <thead>
                    <tr>
                      <th scope="col">Store</th>
                      <th scope="col">What</th>
                      <th scope="col">Count</th>
                      <th scope="col">How</th>
                    </tr>
                  </thead>
                  <tbody>
                    {cert.certificate.stores.map((s) => (
                      <tr key={`${s.store}-${s.items}`}>
                        <th scope="row">{STORES[s.store] ?? s.store}</th>
                        <td>
                          {s.items}
                          <div className="muted">{s.detail}</div>
                        </td>
                        <td>{s.count}</td>
                        <td>{METHODS[s.method] ?? s.method}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <div className="actions">
                <button type="button" onClick={() => saveFile(new Blob([`${JSON.stringify(cert, null, 2)}\n`], { type: 'application/json' }), `erasure-certificate-${erasure.id}.json`)}>
                  Download the certificate (JSON)
                </button>
              </div>
              <details className="earlier">
                <summary>The certificate as JSON</summary>
                <pre className="cert-json">{JSON.stringify(cert, null, 2)}</pre>
              </details>
            </>
          )}
        </section>
      )}
    </div>
  );
}
