import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { api, must } from '../api/client';
import type { paths } from '../api/schema';

type Settings = paths['/settings']['get']['responses'][200]['content']['application/json'];
type Body = paths['/settings']['put']['requestBody']['content']['application/json'];
type Workflow = Settings['approvalWorkflows'][number];

interface Form {
  companyName: string;
  brandVoice: string;
  /** One policy a line. */
  policies: string;
  workflows: Workflow[];
  mode: 'platform' | 'own';
  baseUrl: string;
  model: string;
  apiKey: string;
  temperature: string;
}

const formOf = (s: Settings): Form => ({
  companyName: s.companyName,
  brandVoice: s.brandVoice,
  policies: s.policies.join('\n'),
  workflows: s.approvalWorkflows,
  mode: s.model.mode,
  baseUrl: s.model.mode === 'own' ? s.model.baseUrl : '',
  model: s.model.mode === 'own' ? s.model.model : '',
  apiKey: '',
  temperature: s.model.mode === 'own' && s.model.temperature !== null ? String(s.model.temperature) : '',
});

/** The tenant's settings: name, brand voice, policies, approval SLAs, model (admins change them; managers read). */
export function SettingsScreen({ canWrite }: { canWrite: boolean }) {
  const [settings, setSettings] = useState<Settings | null>(null);
  const [form, setForm] = useState<Form | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      const s = must(await api.GET('/settings'));
      setSettings(s);
      setForm(formOf(s));
    } catch (e) {
      setError((e as Error).message);
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!settings || !form) return;
    setBusy(true);
    setError(null);
    setDone(null);
    const body: Body = {
      version: settings.version,
      companyName: form.companyName,
      brandVoice: form.brandVoice,
      policies: form.policies
        .split('\n')
        .map((p) => p.trim())
        .filter(Boolean),
      approvalWorkflows: form.workflows,
      model:
        form.mode === 'platform'
          ? { mode: 'platform' }
          : { mode: 'own', baseUrl: form.baseUrl.trim(), model: form.model.trim(), ...(form.apiKey ? { apiKey: form.apiKey } : {}), temperature: form.temperature === '' ? null : Number(form.temperature) },
    };
    try {
      const s = must(await api.PUT('/settings', { body }));
      setSettings(s);
      setForm(formOf(s));
      setDone('Settings saved: the next draft follows them.');
    } catch (err) {
      setError((err as Error).message);
      if ((err as { code?: string }).code === 'settings-version-conflict') await load();
    } finally {
      setBusy(false);
    }
  };

  if (!form || !settings)
    return (
      <div className="page">
        <h1>Settings</h1>
        {error ? (
          <p className="error" role="alert">
            {error}
          </p>
        ) : (
          <p role="status">Loading settings…</p>
        )}
      </div>
    );
  const set = <K extends keyof Form>(k: K, v: Form[K]) => setForm({ ...form, [k]: v });
  const setWorkflow = (i: number, w: Workflow) => set('workflows', form.workflows.map((x, j) => (j === i ? w : x)));

  return (
    <div className="page">
      <h1>Settings</h1>
      <form className="settings" onSubmit={save}>
        <fieldset disabled={!canWrite || busy}>
          <legend className="sr-only">Your organisation’s settings</legend>
          <h2>Replies</h2>
          <label htmlFor="s-company">Company name (replies are signed with it)</label>
          <input id="s-company" required maxLength={200} value={form.companyName} onChange={(e) => set('companyName', e.target.value)} />
          <label htmlFor="s-voice">Brand voice</label>
          <textarea id="s-voice" rows={3} maxLength={2000} value={form.brandVoice} onChange={(e) => set('brandVoice', e.target.value)} />
          <label htmlFor="s-policies">Policies, one a line, in order (every reply keeps them)</label>
          <textarea id="s-policies" rows={5} value={form.policies} onChange={(e) => set('policies', e.target.value)} />

          <h2>Approval workflows</h2>
          {form.workflows.map((w, i) => (
            <fieldset key={w.key} className="workflow">
              <legend>
                {w.name}
                {w.isDefault ? ' (default)' : ''}
              </legend>
              <label htmlFor={`sla-${w.key}`}>Minutes to the first decision (SLA)</label>
              <input
                id={`sla-${w.key}`}
                type="number"
                min={1}
                max={43200}
                required
                value={w.sla.firstDecisionMinutes}
                onChange={(e) => setWorkflow(i, { ...w, sla: { ...w.sla, firstDecisionMinutes: Number(e.target.value) } })}
              />
              <label className="check">
                <input type="checkbox" checked={w.sla.escalateToTeamLead} onChange={(e) => setWorkflow(i, { ...w, sla: { ...w.sla, escalateToTeamLead: e.target.checked } })} /> Escalate to the team lead past the SLA
              </label>
            </fieldset>
          ))}

          <h2>Model</h2>
          <div role="radiogroup" aria-label="Model drafts are written with" className="radios">
            <label className="check">
              <input type="radio" name="mode" checked={form.mode === 'platform'} onChange={() => set('mode', 'platform')} /> The platform’s model
            </label>
            <label className="check">
              <input type="radio" name="mode" checked={form.mode === 'own'} onChange={() => set('mode', 'own')} /> Your own OpenAI-compatible endpoint
            </label>
          </div>
          {form.mode === 'own' && (
            <>
              <label htmlFor="s-base">Base URL (…/v1)</label>
              <input id="s-base" type="url" required value={form.baseUrl} onChange={(e) => set('baseUrl', e.target.value)} />
              <label htmlFor="s-model">Model name</label>
              <input id="s-model" required value={form.model} onChange={(e) => set('model', e.target.value)} />
              <label htmlFor="s-key">API key {settings.model.mode === 'own' && settings.model.apiKeySet ? '(one is stored: leave empty to keep it)' : ''}</label>
              <input id="s-key" type="password" autoComplete="off" value={form.apiKey} onChange={(e) => set('apiKey', e.target.value)} />
              <label htmlFor="s-temp">Temperature (0–2, empty: the model’s default)</label>
              <input id="s-temp" type="number" min={0} max={2} step={0.1} value={form.temperature} onChange={(e) => set('temperature', e.target.value)} />
            </>
          )}
        </fieldset>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div aria-live="polite" className="live">
          {done && <p className="ok">{done}</p>}
        </div>
        {canWrite ? (
          <button type="submit" disabled={busy}>
            Save settings
          </button>
        ) : (
          <p className="muted">Only admins change the settings.</p>
        )}
        <p className="muted">
          Version {settings.version}
          {settings.updatedAt ? `, changed ${new Date(settings.updatedAt).toLocaleString()}` : ''}
        </p>
      </form>
    </div>
  );
}
