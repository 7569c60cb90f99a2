import { useCallback, useState } from 'react';
import { api, must } from '../api/client';
import type { paths } from '../api/schema';
import { usePoll } from '../usePoll';

type UsageReport = paths['/usage']['get']['responses'][200]['content']['application/json'];
type DraftMetrics = paths['/draft-metrics']['get']['responses'][200]['content']['application/json'];

const METRIC: Record<string, string> = { tickets: 'Tickets', model_tokens: 'Model tokens', api_calls: 'API calls', storage_bytes: 'Knowledge base storage' };
const fmt = (n: number, metric?: string) =>
  metric === 'storage_bytes' ? (n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GB` : n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MB` : `${(n / 1024).toFixed(1)} KB`) : n.toLocaleString();
const pct = (r: number | null) => (r === null ? '—' : `${Math.round(r * 100)}%`);
const secs = (s: number) => (s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);
const isoDay = (d: Date) => d.toISOString().slice(0, 10);

/** A bar per day (SVG), with the numbers as a table for screen readers and for exact values. */
function Bars({ title, days, values, metric }: { title: string; days: string[]; values: Map<string, number>; metric: string }) {
  const max = Math.max(1, ...days.map((d) => values.get(d) ?? 0));
  const total = days.reduce((n, d) => n + (values.get(d) ?? 0), 0);
  const w = 640;
  const h = 140;
  const bw = w / days.length;
  return (
    <figure className="chart">
      <figcaption>
        {title}: {fmt(total, metric)} in the last {days.length} days
      </figcaption>
      <svg viewBox={`0 0 ${w} ${h + 18}`} role="img" aria-label={`${title} per day, highest ${fmt(max, metric)}`} preserveAspectRatio="none">
        <line x1="0" y1={h} x2={w} y2={h} stroke="#4a4a4a" />
        {days.map((d, i) => {
          const v = values.get(d) ?? 0;
          const bh = (v / max) * (h - 8);
          return (
            <rect key={d} x={i * bw + 1} y={h - bh} width={Math.max(1, bw - 2)} height={bh} fill="#0b57d0">
              <title>{`${d}: ${fmt(v, metric)}`}</title>
            </rect>
          );
        })}
        <text x="0" y={h + 14} fontSize="11" fill="#1b1b1b">
          {days[0]}
        </text>
        <text x={w} y={h + 14} fontSize="11" textAnchor="end" fill="#1b1b1b">
          {days[days.length - 1]}
        </text>
      </svg>
      <details>
        <summary>The numbers</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">{title}</th>
            </tr>
          </thead>
          <tbody>
            {days
              .filter((d) => values.get(d))
              .map((d) => (
                <tr key={d}>
                  <td>{d}</td>
                  <td>{fmt(values.get(d)!, metric)}</td>
                </tr>
              ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

/** Usage against the plan's quotas, and how the drafts fare (acceptance, edits, time to approval). */
export function Usage() {
  const [usage, setUsage] = useState<UsageReport | null>(null);
  const [metrics, setMetrics] = useState<DraftMetrics | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    const to = new Date();
    const from = new Date(to.getTime() - 29 * 86_400_000);
    try {
      const [u, m] = await Promise.all([api.GET('/usage', { params: { query: { from: isoDay(from), to: isoDay(to) } as never } }), api.GET('/draft-metrics', { params: { query: { from: isoDay(from), to: isoDay(to) } } })]);
      setUsage(must(u));
      setMetrics(must(m));
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    }
  }, []);
  usePoll(load, 30_000, []);

  const days: string[] = [];
  if (usage) for (let t = Date.parse(`${usage.from.slice(0, 10)}T00:00:00Z`); t <= Date.parse(`${usage.to.slice(0, 10)}T00:00:00Z`); t += 86_400_000) days.push(isoDay(new Date(t)));
  const series = (metric: string) => new Map((usage?.days ?? []).filter((d) => d.metric === metric).map((d) => [d.day.slice(0, 10), d.amount]));

  return (
    <div className="page">
      <h1>Usage</h1>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {!usage || !metrics ? (
        <p role="status">Loading usage…</p>
      ) : (
        <>
          <h2>This period against your plan ({usage.plan})</h2>
          <ul className="quotas">
            {usage.quotas.map((q) => (
              <li key={q.metric}>
                <label htmlFor={`quota-${q.metric}`}>{METRIC[q.metric] ?? q.metric}</label>
                <meter id={`quota-${q.metric}`} min={0} max={q.limit} low={q.limit * 0.8} high={q.limit * 0.95} optimum={0} value={q.used + q.reserved}>
                  {fmt(q.used, q.metric)}
                </meter>
                <span>
                  {fmt(q.used + q.reserved, q.metric)} of {fmt(q.limit, q.metric)} ({fmt(q.remaining, q.metric)} left)
                </span>
              </li>
            ))}
          </ul>
          <div className="charts">
            <Bars title="Tickets" days={days} values={series('tickets')} metric="tickets" />
            <Bars title="Model tokens" days={days} values={series('model_tokens')} metric="model_tokens" />
          </div>
          <h2>Drafts, last 30 days</h2>
          <dl className="stats">
            <div>
              <dt>Decided</dt>
              <dd>{metrics.decided}</dd>
            </div>
            <div>
              <dt>Accepted</dt>
              <dd>{pct(metrics.acceptanceRate)}</dd>
            </div>
            <div>
              <dt>Edited before sending</dt>
              <dd>{pct(metrics.editRate)}</dd>
            </div>
            <div>
              <dt>Time to approval (median)</dt>
              <dd>{metrics.timeToApproval ? secs(metrics.timeToApproval.p50) : '—'}</dd>
            </div>
            {metrics.sla && (
              <div>
                <dt>Decided within SLA</dt>
                <dd>{pct(metrics.sla.withinSlaRate)}</dd>
              </div>
            )}
          </dl>
          <h3>Decisions</h3>
          <HBars
            rows={[
              ['Approved', metrics.approved],
              ['Edited', metrics.edited],
              ['Rejected', metrics.rejected],
              ['Failed', metrics.failed],
            ]}
          />
          <h3>Open queue now</h3>
          <HBars rows={Object.entries(metrics.open).map(([k, v]) => [k.replace('_', ' '), v])} />
        </>
      )}
    </div>
  );
}

/** Horizontal bars as a list: each row's label, bar and number are text (nothing only in colour). */
function HBars({ rows }: { rows: [string, number][] }) {
  const max = Math.max(1, ...rows.map((r) => r[1]));
  return (
    <ul className="hbars">
      {rows.map(([label, n]) => (
        <li key={label}>
          <span className="label">{label}</span>
          <span className="bar" aria-hidden="true">
            <span style={{ width: `${(n / max) * 100}%` }} />
          </span>
          <span className="n">{n}</span>
        </li>
      ))}
    </ul>
  );
}
