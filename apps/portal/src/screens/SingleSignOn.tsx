import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { api, must } from '../api/client';
import type { paths } from '../api/schema';
import { mappingText, parseMapping, ROLES } from '../role-mapping';

type Config = paths['/sso']['get']['responses'][200]['content']['application/json'];
type Body = paths['/sso']['put']['requestBody']['content']['application/json'];

interface Form {
  issuer: string;
  clientId: string;
  /** Empty: keep the stored secret. */
  clientSecret: string;
  publicClient: boolean;
  /** One domain a line. */
  domains: string;
  roleClaim: string;
  /** One `claim value = role` a line. */
  mapping: string;
  passwordSignIn: boolean;
}

const EMPTY: Form = { issuer: '', clientId: '', clientSecret: '', publicClient: false, domains: '', roleClaim: '', mapping: '', passwordSignIn: true };

const formOf = (c: Config): Form => ({
  issuer: c.issuer,
  clientId: c.clientId,
  clientSecret: '',
  publicClient: !c.clientSecretSet,
  domains: c.allowedDomains.join('\n'),
  roleClaim: c.roleClaim ?? '',
  mapping: mappingText(c.roleMapping),
  passwordSignIn: c.passwordSignIn,
});

/** Single sign-on (admins): the tenant's OpenID Connect provider, who may sign in, their roles, and whether passwords stay on. */
export function SingleSignOn() {
  const [config, setConfig] = useState<Config | null | undefined>(undefined);
  const [form, setForm] = useState<Form>(EMPTY);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirmRemove, setConfirmRemove] = useState(false);

  const load = useCallback(async () => {
    const r = await api.GET('/sso');
    if (r.response.status === 404) {
      setConfig(null);
      setForm(EMPTY);
      return;
    }
    try {
      const c = must(r);
      setConfig(c);
      setForm(formOf(c));
    } catch (e) {
      setError((e as Error).message);
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  const set = <K extends keyof Form>(k: K, v: Form[K]) => setForm({ ...form, [k]: v });

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setDone(null);
    let body: Body;
    try {
      body = {
        issuer: form.issuer.trim(),
        clientId: form.clientId.trim(),
        ...(form.publicClient ? { clientSecret: null } : form.clientSecret ? { clientSecret: form.clientSecret } : {}),
        allowedDomains: form.domains
          .split(/[\s,]+/)
          .map((d) => d.trim())
          .filter(Boolean),
        roleClaim: form.roleClaim.trim() || null,
        roleMapping: parseMapping(form.mapping),
        passwordSignIn: form.passwordSignIn,
      };
    } catch (err) {
      return setError((err as Error).message);
    }
    setBusy(true);
    try {
      const c = must(await api.PUT('/sso', { body }));
      setConfig(c);
      setForm(formOf(c));
      setDone(c.passwordSignIn ? 'Single sign-on saved. Operators can sign in with it or with a password.' : 'Single sign-on saved. Password sign-in is off: operators sign in with single sign-on only.');
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      must(await api.DELETE('/sso'));
      setConfirmRemove(false);
      await load();
      setDone('Single sign-on removed: operators sign in with their passwords again.');
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  if (config === undefined)
    return (
      <div className="page">
        <h1>Single sign-on</h1>
        {error ? (
          <p className="error" role="alert">
            {error}
          </p>
        ) : (
          <p role="status">Loading single sign-on…</p>
        )}
      </div>
    );

  return (
    <div className="page">
      <h1>Single sign-on</h1>
      <p>Operators sign in through your OpenID Connect identity provider (authorization code with PKCE). New people from an allowed domain join as operators unless they were invited with another role or the role mapping says otherwise.</p>
      <div className="panel-info">
        {config ? (
          <>
            <p>
              Register this redirect URI at your provider: <code className="mono">{config.redirectUri}</code>
            </p>
            <p>
              {config.verifiedAt ? (
                <span className="ok">Verified: a single sign-on worked on {new Date(config.verifiedAt).toLocaleString()}.</span>
              ) : (
                <span>Not verified yet: sign in with single sign-on once before turning password sign-in off.</span>
              )}
            </p>
          </>
        ) : (
          <p>No single sign-on is set up: operators sign in with their passwords.</p>
        )}
      </div>
      <form className="settings" onSubmit={save}>
        <fieldset disabled={busy}>
          <legend className="sr-only">Your identity provider</legend>
          <label htmlFor="sso-issuer">Issuer (exactly as the provider’s discovery document names it)</label>
          <input id="sso-issuer" type="url" required maxLength={500} placeholder="https://login.example.com/realms/acme" value={form.issuer} onChange={(e) => set('issuer', e.target.value)} />
          <label htmlFor="sso-client">Client id</label>
          <input id="sso-client" required maxLength={200} value={form.clientId} onChange={(e) => set('clientId', e.target.value)} />
          <label className="check">
            <input type="checkbox" checked={form.publicClient} onChange={(e) => set('publicClient', e.target.checked)} /> Public client: no client secret (PKCE only)
          </label>
          {!form.publicClient && (
            <>
              <label htmlFor="sso-secret">Client secret {config?.clientSecretSet ? '(one is stored: leave empty to keep it)' : ''}</label>
              <input id="sso-secret" type="password" autoComplete="off" maxLength={1000} required={!config?.clientSecretSet} value={form.clientSecret} onChange={(e) => set('clientSecret', e.target.value)} />
            </>
          )}
          <label htmlFor="sso-domains">Allowed e-mail domains, one a line</label>
          <textarea id="sso-domains" rows={3} required value={form.domains} onChange={(e) => set('domains', e.target.value)} />
          <label htmlFor="sso-claim">Role claim in the ID token (optional, e.g. groups)</label>
          <input id="sso-claim" maxLength={100} value={form.roleClaim} onChange={(e) => set('roleClaim', e.target.value)} />
          <label htmlFor="sso-mapping">Role mapping, one “claim value = role” a line (roles: {ROLES.join(', ')})</label>
          <textarea id="sso-mapping" rows={3} value={form.mapping} onChange={(e) => set('mapping', e.target.value)} />
          <label className="check">
            <input type="checkbox" checked={form.passwordSignIn} onChange={(e) => set('passwordSignIn', e.target.checked)} /> Operators may also sign in with a password
          </label>
          <p className="hint">Password sign-in can be turned off once a single sign-on has worked with this issuer and client id, so your organisation always keeps a way in.</p>
        </fieldset>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div aria-live="polite" className="live">
          {done && <p className="ok">{done}</p>}
        </div>
        <div className="actions">
          <button type="submit" disabled={busy}>
            Save single sign-on
          </button>
          {config && !confirmRemove && (
            <button type="button" className="secondary danger" disabled={busy} onClick={() => setConfirmRemove(true)}>
              Remove single sign-on
            </button>
          )}
        </div>
        {config && confirmRemove && (
          <div className="confirm" role="group" aria-labelledby="sso-remove-q">
            <p id="sso-remove-q">Remove single sign-on? Operators sign in with passwords again; those who never set one ask for a reset.</p>
            <div className="actions">
              <button type="button" className="danger" disabled={busy} onClick={remove}>
                Yes, remove it
              </button>
              <button type="button" className="secondary" disabled={busy} onClick={() => setConfirmRemove(false)}>
                Keep it
              </button>
            </div>
          </div>
        )}
      </form>
    </div>
  );
}
