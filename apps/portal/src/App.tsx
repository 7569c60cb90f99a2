import { useEffect, useRef, useState } from 'react';
import { api, endSession, hasSession, type Me, must, onSessionEnd, screensFor } from './api/client';
import { accountPageOf, pathOf, SCREENS, type Screen, useScreen } from './router';
import { AccountLink } from './screens/AccountLink';
import { SignIn } from './screens/SignIn';
import { Queue } from './screens/Queue';
import { Knowledge } from './screens/Knowledge';
import { Operators } from './screens/Operators';
import { Usage } from './screens/Usage';
import { AuditLog } from './screens/AuditLog';
import { SettingsScreen } from './screens/Settings';
import { SingleSignOn } from './screens/SingleSignOn';
import { DataExport } from './screens/DataExport';
import { Erasure } from './screens/Erasure';

const LAST_TENANT = 'hotdash.tenant';

export function App() {
  // An e-mailed link (invitation, password reset) is its page, signed in or not.
  const [account, setAccount] = useState(() => accountPageOf(location.pathname));
  const [me, setMe] = useState<Me | null>(null);
  const [loading, setLoading] = useState(hasSession());
  const [notice, setNotice] = useState<string | null>(null);

  const loadMe = async () => {
    setLoading(true);
    try {
      setMe(must(await api.GET('/me')));
    } catch {
      endSession();
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    if (hasSession()) void loadMe();
    return onSessionEnd(() => setMe(null));
  }, []);

  if (account)
    return (
      <AccountLink
        page={account}
        onDone={(message, tenant) => {
          // The sign-in screen follows, the organisation filled in; a session open in this tab ends (a reset ends them all anyway).
          if (tenant) localStorage.setItem(LAST_TENANT, tenant);
          if (hasSession()) endSession();
          history.replaceState(null, '', '/');
          setNotice(message);
          setAccount(null);
        }}
      />
    );
  if (loading) return <p className="loading" role="status">Loading…</p>;
  if (!me)
    return (
      <SignIn
        notice={notice}
        onSignedIn={() => {
          setNotice(null);
          void loadMe();
        }}
      />
    );
  return (
    <Shell
      me={me}
      onSignOut={async () => {
        await api.POST('/auth/logout').catch(() => undefined);
        endSession();
        setNotice('You have signed out.');
      }}
    />
  );
}

function Shell({ me, onSignOut }: { me: Me; onSignOut: () => void }) {
  const [screen, go] = useScreen();
  const allowed = screensFor(me.role);
  const current: Screen = allowed.includes(screen) ? screen : 'queue';
  const main = useRef<HTMLElement>(null);
  useEffect(() => {
    document.title = `${SCREENS[current]} · HotDash`;
    if (location.pathname !== pathOf(current)) history.replaceState(null, '', pathOf(current));
  }, [current]);
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">HotDash</span>
        <nav aria-label="Screens">
          <ul>
            {allowed.map((s) => (
              <li key={s}>
                <a
                  href={pathOf(s)}
                  aria-current={s === current ? 'page' : undefined}
                  onClick={(e) => {
                    e.preventDefault();
                    go(s);
                    main.current?.focus();
                  }}
                >
                  {SCREENS[s]}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span>
            {me.displayName ?? me.email} <span className="role">({me.role.replace('_', ' ')})</span>
          </span>
          <button type="button" className="secondary" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {current === 'queue' && <Queue me={me} />}
        {current === 'knowledge' && <Knowledge canWrite={me.role === 'admin' || me.role === 'manager'} />}
        {current === 'operators' && <Operators me={me} canManage={me.role === 'admin'} />}
        {current === 'usage' && <Usage />}
        {current === 'audit' && <AuditLog />}
        {current === 'settings' && <SettingsScreen canWrite={me.role === 'admin'} />}
        {current === 'sso' && <SingleSignOn />}
        {current === 'exports' && <DataExport />}
        {current === 'erasure' && <Erasure />}
      </main>
    </>
  );
}
