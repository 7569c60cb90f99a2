import { type FormEvent, useCallback, useState } from 'react';
import { api, type Me, must, type Operator, problemMessage, type Role } from '../api/client';
import { usePoll } from '../usePoll';

const ROLES: { role: Role; label: string }[] = [
  { role: 'operator', label: 'Operator' },
  { role: 'team_lead', label: 'Team lead' },
  { role: 'manager', label: 'Manager' },
  { role: 'admin', label: 'Admin' },
];
const ROLE_LABEL = Object.fromEntries(ROLES.map((r) => [r.role, r.label])) as Record<Role, string>;

/** Operators and roles: invite, change role and team, remove (admins); others with users:read see the list. */
export function Operators({ me, canManage }: { me: Me; canManage: boolean }) {
  const [operators, setOperators] = useState<Operator[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('operator');
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      setOperators(must(await api.GET('/operators')).filter((o) => o.status !== 'removed'));
    } catch (e) {
      setError((e as Error).message);
    }
  }, []);
  usePoll(load, 15_000, []);

  const run = async (message: string, call: () => Promise<{ error?: unknown; response: Response }>) => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const r = await call();
      if (!r.response.ok) throw new Error(problemMessage(r.error, r.response.status));
      setDone(message);
      await load();
      return true;
    } catch (e) {
      setError((e as Error).message);
      return false;
    } finally {
      setBusy(false);
    }
  };

  const invite = async (e: FormEvent) => {
    e.preventDefault();
    const ok = await run(`Invitation sent to ${email.trim()}.`, () =>
      api.POST('/operators', { body: { email: email.trim(), role, ...(name.trim() ? { displayName: name.trim() } : {}) }, headers: { 'idempotency-key': crypto.randomUUID() } }),
    );
    if (ok) {
      setEmail('');
      setName('');
    }
  };

  return (
    <div className="page">
      <h1>Operators and roles</h1>
      {canManage && (
        <form className="invite" onSubmit={invite}>
          <h2>Invite an operator</h2>
          <div className="fields">
            <div>
              <label htmlFor="invite-email">E-mail address</label>
              <input id="invite-email" type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
            </div>
            <div>
              <label htmlFor="invite-name">Name (optional)</label>
              <input id="invite-name" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
            </div>
            <div>
              <label htmlFor="invite-role">Role</label>
              <select id="invite-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
                {ROLES.map((r) => (
                  <option key={r.role} value={r.role}>
                    {r.label}
                  </option>
                ))}
              </select>
            </div>
          </div>
          <button type="submit" disabled={busy}>
            Send invitation
          </button>
        </form>
      )}
      <div aria-live="polite" className="live">
        {done && <p className="ok">{done}</p>}
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <h2>Your organisation’s operators</h2>
      {operators === null ? (
        <p role="status">Loading operators…</p>
      ) : (
        <ul className="operators">
          {operators.map((o) => (
            <OperatorRow key={o.userId} operator={o} self={o.userId === me.userId} canManage={canManage} busy={busy} run={run} />
          ))}
        </ul>
      )}
    </div>
  );
}

function OperatorRow({
  operator: o,
  self,
  canManage,
  busy,
  run,
}: {
  operator: Operator;
  self: boolean;
  canManage: boolean;
  busy: boolean;
  run: (message: string, call: () => Promise<{ error?: unknown; response: Response }>) => Promise<boolean>;
}) {
  const [role, setRole] = useState<Role>(o.role);
  const [team, setTeam] = useState(o.team ?? '');
  const changed = role !== o.role || (team.trim() || null) !== o.team;
  const who = o.displayName ?? o.email;
  const save = (e: FormEvent) => {
    e.preventDefault();
    const body: { role?: Role; team?: string | null } = {};
    if (role !== o.role) body.role = role;
    if ((team.trim() || null) !== o.team) body.team = team.trim() || null;
    void run(`${who}: changes saved.`, () => api.PATCH('/operators/{id}', { params: { path: { id: o.userId } }, body }));
  };
  const remove = () => {
    if (confirm(`Remove ${who}? Their access ends at once.`)) void run(`${who} removed.`, () => api.DELETE('/operators/{id}', { params: { path: { id: o.userId } } }));
  };
  return (
    <li className="operator" data-operator={o.email}>
      <div className="id">
        <strong>{who}</strong>
        {o.displayName && <span className="muted"> {o.email}</span>}
        {self && <span className="muted"> (you)</span>}
        {o.status === 'invited' && <span className="badge queued">Invited</span>}
      </div>
      {canManage ? (
        <form className="edit" onSubmit={save} aria-label={`Role and team of ${who}`}>
          <div>
            <label htmlFor={`role-${o.userId}`}>Role</label>
            <select id={`role-${o.userId}`} value={role} onChange={(e) => setRole(e.target.value as Role)}>
              {ROLES.map((r) => (
                <option key={r.role} value={r.role}>
                  {r.label}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label htmlFor={`team-${o.userId}`}>Team</label>
            <input id={`team-${o.userId}`} value={team} maxLength={100} placeholder="none" onChange={(e) => setTeam(e.target.value)} />
          </div>
          <div className="row-actions">
            <button type="submit" className="small" disabled={busy || !changed}>
              Save<span className="sr-only"> {who}</span>
            </button>
            {!self && (
              <button type="button" className="secondary danger small" onClick={remove} disabled={busy}>
                Remove<span className="sr-only"> {who}</span>
              </button>
            )}
          </div>
        </form>
      ) : (
        <p className="muted">
          {ROLE_LABEL[o.role]}
          {o.team ? ` · team ${o.team}` : ''}
        </p>
      )}
    </li>
  );
}
