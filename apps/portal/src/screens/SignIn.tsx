import { type FormEvent, useEffect, useRef, useState } from 'react';
import { api, must, problemMessage, startSession, type TokenPair } from '../api/client';

const LAST_TENANT = 'hotdash.tenant';

/** Sign-in: password, or the organisation's single sign-on; also asks for a password-reset link. */
export function SignIn({ notice, onSignedIn }: { notice: string | null; onSignedIn: () => void }) {
  const [tenant, setTenant] = useState(() => localStorage.getItem(LAST_TENANT) ?? '');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [info, setInfo] = useState<string | null>(notice);
  const errorRef = useRef<HTMLParagraphElement>(null);

  useEffect(() => {
    document.title = 'Sign in · HotDash';
    // Back from single sign-on: `#sso=<handoff code>` (exchanged for the tokens) or `#sso-error=<code>`.
    const fragment = new URLSearchParams(location.hash.slice(1));
    history.replaceState(null, '', location.pathname);
    const code = fragment.get('sso');
    const failed = fragment.get('sso-error');
    if (failed) setError(problemMessage({ code: failed, title: `Single sign-on failed (${failed}).` }));
    if (code) {
      setBusy(true);
      void api
        .POST('/auth/sso/exchange', { body: { code } })
        .then((r) => {
          startSession(must(r) as unknown as TokenPair);
          onSignedIn();
        })
        .catch((e: Error) => setError(e.message))
        .finally(() => setBusy(false));
    }
  }, [onSignedIn]);

  useEffect(() => {
    if (error) errorRef.current?.focus();
  }, [error]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setInfo(null);
    try {
      const tokens = must(await api.POST('/auth/login', { body: { tenant: tenant.trim(), email: email.trim(), password } }));
      localStorage.setItem(LAST_TENANT, tenant.trim());
      startSession(tokens);
      onSignedIn();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const sso = async () => {
    setError(null);
    if (!tenant.trim()) return setError('Type your organisation first: single sign-on is set up per organisation.');
    const url = `/auth/sso/start?${new URLSearchParams({ tenant: tenant.trim(), to: 'portal' })}`;
    // Asked first without following the redirect: an organisation without SSO answers a problem, shown here.
    const probe = await fetch(url, { redirect: 'manual' }).catch(() => null);
    if (probe && probe.type !== 'opaqueredirect' && !probe.ok) return setError(problemMessage(await probe.json().catch(() => null), probe.status));
    localStorage.setItem(LAST_TENANT, tenant.trim());
    location.assign(url);
  };

  const reset = async () => {
    setError(null);
    if (!tenant.trim() || !email.trim()) return setError('Type your organisation and e-mail address first; the link to set a new password is mailed to you.');
    const r = await api.POST('/auth/password-reset', { body: { tenant: tenant.trim(), email: email.trim() } });
    if (r.error) setError(problemMessage(r.error, r.response.status));
    else {
      // The link opens in this browser, most likely: its sign-in then has the organisation filled in.
      localStorage.setItem(LAST_TENANT, tenant.trim());
      setInfo('If that address belongs to an operator of the organisation, a link to set a new password is on its way.');
    }
  };

  return (
    <main id="main" className="signin">
      <h1>Sign in to HotDash</h1>
      {info && (
        <p className="ok" role="status">
          {info}
        </p>
      )}
      <form onSubmit={submit} aria-describedby={error ? 'signin-error' : undefined}>
        <label htmlFor="tenant">Organisation</label>
        <input id="tenant" name="tenant" autoComplete="organization" required value={tenant} onChange={(e) => setTenant(e.target.value)} />
        <label htmlFor="email">E-mail address</label>
        <input id="email" name="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <label htmlFor="password">Password</label>
        <input id="password" name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        {error && (
          <p id="signin-error" className="error" role="alert" tabIndex={-1} ref={errorRef}>
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <div className="alt">
        <button type="button" className="secondary" onClick={sso} disabled={busy}>
          Sign in with single sign-on
        </button>
        <button type="button" className="link" onClick={reset} disabled={busy}>
          Forgot your password?
        </button>
      </div>
    </main>
  );
}
