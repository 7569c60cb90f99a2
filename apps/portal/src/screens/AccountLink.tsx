import { type FormEvent, useEffect, useRef, useState } from 'react';
import { api, must } from '../api/client';
import { type AccountPage, accountPageOf } from '../router';

/**
 * The link's secret, taken from the fragment as the portal's script starts, before anything renders,
 * and dropped from the address bar at once (so it is not in the history, a bookmark or a screenshot).
 */
const LINK_TOKEN: string = (() => {
  if (!accountPageOf(location.pathname) || !location.hash) return '';
  let token = '';
  try {
    token = decodeURIComponent(location.hash.slice(1));
  } catch {
    // A mangled link: the page says it needs the link as it was sent.
  }
  history.replaceState(null, '', location.pathname);
  return token;
})();

const TITLES: Record<AccountPage, { title: string; intro: string }> = {
  invitation: { title: 'Accept your invitation', intro: 'Choose a password to join your organisation on HotDash.' },
  reset: { title: 'Set a new password', intro: 'Choose a new password; every session you had ends when it is set.' },
};

/**
 * The pages the e-mails link to: accept an invitation, or set a new password after a reset. The
 * secret is the link's fragment (never sent to a server; LINK_TOKEN), posted with the new password. Done: `onDone` with what to tell the person and,
 * for an invitation, the organisation's login slug (the sign-in screen follows, filled in).
 */
export function AccountLink({ page, onDone }: { page: AccountPage; onDone: (notice: string, tenant?: string) => void }) {
  const [token] = useState(LINK_TOKEN);
  const [displayName, setDisplayName] = useState('');
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(token ? null : 'This page needs the link from your e-mail: open the link exactly as it was sent.');
  const errorRef = useRef<HTMLParagraphElement>(null);
  const { title, intro } = TITLES[page];

  useEffect(() => {
    document.title = `${title} · HotDash`;
  }, [title]);
  useEffect(() => {
    if (error) errorRef.current?.focus();
  }, [error]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    if (password !== again) return setError('The two passwords differ: type the same one twice.');
    setBusy(true);
    try {
      if (page === 'invitation') {
        const accepted = must(await api.POST('/invitations/accept', { body: { token, password, ...(displayName.trim() ? { displayName: displayName.trim() } : {}) } }));
        onDone(`Your password is set. Sign in with the organisation "${accepted.tenant}" and your e-mail address.`, accepted.tenant);
      } else {
        must(await api.POST('/auth/password-reset/confirm', { body: { token, password } }));
        onDone('Your new password is set and your earlier sessions have ended. Sign in with it.');
      }
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="signin">
      <h1>{title}</h1>
      <p>{intro}</p>
      {token && (
        <form onSubmit={submit} aria-describedby={error ? 'account-error' : undefined}>
          {page === 'invitation' && (
            <>
              <label htmlFor="displayName">Your name (optional)</label>
              <input id="displayName" autoComplete="name" maxLength={200} value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
            </>
          )}
          <label htmlFor="new-password">New password (at least 12 characters)</label>
          <input id="new-password" type="password" autoComplete="new-password" minLength={12} maxLength={200} required value={password} onChange={(e) => setPassword(e.target.value)} />
          <label htmlFor="new-password-2">The same password again</label>
          <input id="new-password-2" type="password" autoComplete="new-password" minLength={12} maxLength={200} required value={again} onChange={(e) => setAgain(e.target.value)} />
          {error && (
            <p id="account-error" className="error" role="alert" tabIndex={-1} ref={errorRef}>
              {error}
            </p>
          )}
          <button type="submit" disabled={busy}>
            {busy ? 'Setting your password…' : 'Set password'}
          </button>
        </form>
      )}
      {!token && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <p>
        <a href="/">Go to sign-in</a>
      </p>
    </main>
  );
}
