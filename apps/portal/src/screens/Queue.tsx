import { type FormEvent, useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { api, type Draft, type Me, must, type Ticket, type TicketStatus, type TicketSummary } from '../api/client';
import { type Part, sideBySide } from '../diff';
import { QueueNews } from '../queue-news';
import { usePoll } from '../usePoll';
import { type LiveState, type QueueChange, useQueueStream } from '../useQueueStream';

const STATUSES: { status: TicketStatus; label: string }[] = [
  { status: 'pending', label: 'Awaiting approval' },
  { status: 'drafting', label: 'Drafting' },
  { status: 'rejected', label: 'Rejected' },
  { status: 'draft_failed', label: 'Draft failed' },
  { status: 'replied', label: 'Replied' },
];
const LABEL = Object.fromEntries(STATUSES.map((s) => [s.status, s.label])) as Record<TicketStatus, string>;

type Mode = 'view' | 'edit' | 'reject' | 'reply';

/** Single-key shortcuts can be turned off (WCAG 2.1.4: they clash with speech input and screen-reader keys). */
const SHORTCUTS = 'hotdash.shortcuts';
const shortcutsOn = () => localStorage.getItem(SHORTCUTS) !== 'off';

/**
 * The slow poll under the server push, a safety net only: every minute while the stream is live,
 * every 15 s while it is not. `hotdash.queue.fallback-ms` in localStorage overrides both (the
 * browser tests set it long, so that what they see can only have come by push).
 */
function fallbackMs(live: LiveState): number {
  const override = Number(localStorage.getItem('hotdash.queue.fallback-ms'));
  return override > 0 ? override : live === 'live' ? 60_000 : 15_000;
}

const LIVE_TEXT: Record<LiveState, string> = { live: 'Live', connecting: 'Connecting…', paused: 'Live updates paused: refreshing every so often' };

const when = (iso: string) => new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** The operator queue: the caller's tickets by status, live; the ticket, its draft and the decisions on it. */
export function Queue({ me }: { me: Me }) {
  const [status, setStatus] = useState<TicketStatus>('pending');
  const [tickets, setTickets] = useState<TicketSummary[] | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [ticket, setTicket] = useState<Ticket | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [shortcuts, setShortcuts] = useState(shortcutsOn);

  /** The last few announcements (a log: a later one does not cut off the one before it). */
  const [announcements, setAnnouncements] = useState<{ n: number; text: string }[]>([]);
  const news = useRef(new QueueNews());
  /** Refreshes of the list are numbered; one that answers after a later one is dropped (it is older news). */
  const asked = useRef(0);
  const applied = useRef(0);
  const selectedRef = useRef(selected);
  selectedRef.current = selected;

  /** The list page, and what it brought that is news (QueueNews). */
  const loadList = useCallback(
    async () => {
      const mine = ++asked.current;
      try {
        const page = must(await api.GET('/tickets', { params: { query: { status, limit: 100 } } }));
        if (mine < applied.current) return;
        applied.current = mine;
        const said = news.current.refresh(status, LABEL[status], page.tickets);
        if (said) setAnnouncements((all) => [...all.slice(-2), { n: mine, text: said }]);
        setTickets(page.tickets);
        setListError(null);
      } catch (e) {
        if (mine >= applied.current) setListError((e as Error).message);
      }
    },
    [status],
  );

  /**
   * Reads of the ticket on screen are numbered too. An answer is dropped when a later read has been
   * applied, or when it is for a ticket no longer selected: a push about the ticket just decided can
   * answer after j has moved on, and would put the decided ticket back on screen.
   */
  const ticketAsked = useRef(0);
  const ticketApplied = useRef(0);
  const loadTicket = useCallback(async () => {
    const mine = ++ticketAsked.current;
    if (!selected) return setTicket(null);
    const r = await api.GET('/tickets/{id}', { params: { path: { id: selected } } });
    if (mine < ticketApplied.current || selected !== selectedRef.current) return;
    ticketApplied.current = mine;
    if (r.data) setTicket(r.data);
    else if (r.response.status === 404) setTicket(null);
  }, [selected]);

  // Server push: a change re-reads the list page (changes close together once) and, when it is the
  // ticket on screen, that ticket; a (re)connect or a resync re-reads both.
  const listSoon = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const live = useQueueStream({
    onChange: (c: QueueChange) => {
      if (c.ticketId === selectedRef.current) void loadTicket();
      clearTimeout(listSoon.current);
      listSoon.current = setTimeout(() => void loadList(), 150);
    },
    onResync: () => {
      void loadList();
      void loadTicket();
    },
  });
  useEffect(() => () => clearTimeout(listSoon.current), []);
  usePoll(() => loadList(), fallbackMs(live), [status, live === 'live']);
  usePoll(loadTicket, fallbackMs(live), [selected, live === 'live']);

  // The first ticket of the list is selected when none is (a decided ticket stays shown until j/k).
  useEffect(() => {
    if (tickets && tickets.length > 0 && !selected) setSelected(tickets[0]!.id);
  }, [tickets, selected]);

  const move = useCallback(
    (by: number) => {
      if (!tickets?.length) return;
      const at = tickets.findIndex((t) => t.id === selected);
      const next = tickets[Math.min(tickets.length - 1, Math.max(0, at + by))]!;
      setSelected(next.id);
      document.getElementById(`ticket-${next.id}`)?.focus();
    },
    [tickets, selected],
  );

  // The ticket as an action left it: newer than any read sent before, whose answer is then dropped.
  const updated = (t: Ticket) => {
    if (t.id === selectedRef.current) {
      ticketApplied.current = ++ticketAsked.current;
      setTicket(t);
    }
    void loadList();
  };

  return (
    <div className="queue">
      <section className="list" aria-labelledby="queue-title">
        <div className="queue-head">
          <h1 id="queue-title">Your queue</h1>
          <p className={`live-status ${live}`}>
            <span className="dot" aria-hidden="true" />
            {LIVE_TEXT[live]}
          </p>
        </div>
        <div className="sr-only" role="log" aria-live="polite">
          {announcements.map((a) => (
            <p key={a.n}>{a.text}</p>
          ))}
        </div>
        <div role="group" aria-label="Show tickets" className="filters">
          {STATUSES.map((s) => (
            <button
              key={s.status}
              type="button"
              className="chip"
              aria-pressed={s.status === status}
              onClick={() => {
                // The list shown already: nothing to do (it is live).
                if (s.status === status) return;
                setStatus(s.status);
                setTickets(null);
                setSelected(null);
              }}
            >
              {s.label}
            </button>
          ))}
        </div>
        <div className="hint">
          <label className="check">
            <input
              type="checkbox"
              checked={shortcuts}
              onChange={(e) => {
                localStorage.setItem(SHORTCUTS, e.target.checked ? 'on' : 'off');
                setShortcuts(e.target.checked);
              }}
            />
            Single-key shortcuts
          </label>
          {shortcuts && (
            <p>
              <kbd>j</kbd>/<kbd>k</kbd> next/previous, <kbd>a</kbd> approve, <kbd>e</kbd> edit, <kbd>r</kbd> reject, <kbd>Esc</kbd> cancel.
            </p>
          )}
        </div>
        {listError && (
          <p className="error" role="alert">
            {listError}
          </p>
        )}
        {tickets === null ? (
          <p role="status">Loading tickets…</p>
        ) : tickets.length === 0 ? (
          <p role="status">No tickets {LABEL[status].toLowerCase()}.</p>
        ) : (
          <ul className="tickets" aria-label={`Tickets: ${LABEL[status]}`}>
            {tickets.map((t) => (
              <li key={t.id}>
                <button type="button" id={`ticket-${t.id}`} className="ticket" aria-current={t.id === selected ? 'true' : undefined} onClick={() => setSelected(t.id)}>
                  <span className="who">{t.customer.name}</span>
                  <span className="subject">{t.subject ?? '(no subject)'}</span>
                  <span className="meta">
                    {when(t.receivedAt)}
                    {t.slaBreached ? <span className="flag">SLA breached</span> : null}
                  </span>
                </button>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section className="detail" aria-label="Ticket">
        {ticket ? <TicketView key={ticket.id} me={me} ticket={ticket} shortcuts={shortcuts} onChange={updated} onMove={move} /> : <p className="empty">Choose a ticket to see its message and draft.</p>}
      </section>
    </div>
  );
}

function TicketView({ ticket, shortcuts, onChange, onMove }: { me: Me; ticket: Ticket; shortcuts: boolean; onChange: (t: Ticket) => void; onMove: (by: number) => void }) {
  const [mode, setMode] = useState<Mode>('view');
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const editor = useRef<HTMLTextAreaElement>(null);
  const draft: Draft | undefined = ticket.drafts.find((d) => d.id === ticket.currentDraftId) ?? ticket.drafts[ticket.drafts.length - 1];
  const pending = ticket.status === 'pending' && draft?.status === 'pending' ? draft : undefined;

  useEffect(() => {
    if (mode !== 'view') editor.current?.focus();
  }, [mode]);

  const act = async (label: string, call: () => Promise<{ data?: unknown; error?: unknown; response: Response }>, after?: (data: unknown) => void) => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const data = must(await call());
      setMode('view');
      setDone(label);
      after?.(data);
    } catch (e) {
      setError((e as Error).message);
      // A draft decided elsewhere: show the ticket as it is now.
      if ((e as { code?: string }).code === 'draft-not-pending') {
        const fresh = await api.GET('/tickets/{id}', { params: { path: { id: ticket.id } } });
        if (fresh.data) onChange(fresh.data);
      }
    } finally {
      setBusy(false);
    }
  };

  const approve = () => pending && act('Approved: the reply was sent.', () => api.POST('/drafts/{id}/approve', { params: { path: { id: pending.id } } }), (t) => onChange(t as Ticket));
  const startEdit = () => {
    if (!pending) return;
    setText(pending.body ?? '');
    setMode('edit');
  };
  const startReject = () => {
    if (!pending) return;
    setText('');
    setMode('reject');
  };

  // Keyboard shortcuts of the queue (not while typing). The handler of the last committed render is
  // the one called: set in a layout effect, it is in place before the screen shows that render, so a
  // key pressed as soon as "sent" appears is not judged by the render before it (still busy).
  const onKeyRef = useRef<(e: KeyboardEvent) => void>(() => undefined);
  useLayoutEffect(() => {
    onKeyRef.current = (e: KeyboardEvent) => {
      if (e.altKey || e.ctrlKey || e.metaKey || busy || !shortcuts) return;
      const target = e.target as HTMLElement;
      if (target.closest('input, textarea, select, [contenteditable]')) {
        if (e.key === 'Escape') setMode('view');
        return;
      }
      if (e.key === 'j') onMove(1);
      else if (e.key === 'k') onMove(-1);
      else if (e.key === 'a' && mode === 'view') void approve();
      else if (e.key === 'e' && mode === 'view') startEdit();
      else if (e.key === 'r' && mode === 'view') startReject();
      else if (e.key === 'Escape') setMode('view');
      else return;
      e.preventDefault();
    };
  });
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => onKeyRef.current(e);
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (mode === 'edit' && pending) void act('Your edited reply was sent.', () => api.POST('/drafts/{id}/edit', { params: { path: { id: pending.id } }, body: { body: text } }), (t) => onChange(t as Ticket));
    if (mode === 'reject' && pending) void act('Draft rejected. Ask for a new draft or reply by hand.', () => api.POST('/drafts/{id}/reject', { params: { path: { id: pending.id } }, body: { reason: text } }), (t) => onChange(t as Ticket));
    if (mode === 'reply') void act('Your reply was sent.', () => api.POST('/tickets/{id}/reply', { params: { path: { id: ticket.id } }, body: { body: text } }), (t) => onChange(t as Ticket));
  };

  const regenerate = () =>
    act('A new draft is being written.', () => api.POST('/tickets/{id}/regenerate', { params: { path: { id: ticket.id } } }), async () => {
      const fresh = await api.GET('/tickets/{id}', { params: { path: { id: ticket.id } } });
      if (fresh.data) onChange(fresh.data);
    });

  const earlier = ticket.drafts.filter((d) => d !== draft);

  return (
    <article aria-labelledby="ticket-title">
      <h2 id="ticket-title">{ticket.subject ?? '(no subject)'}</h2>
      <p className="meta">
        From <strong>{ticket.customer.name}</strong> &lt;{ticket.customer.email}&gt; · {when(ticket.receivedAt)} · <span className={`badge ${ticket.status}`}>{LABEL[ticket.status]}</span>
        {ticket.slaBreached ? <span className="flag">SLA breached</span> : ticket.slaDueAt ? <span className="due"> · decide by {when(ticket.slaDueAt)}</span> : null}
      </p>
      <h3>Message</h3>
      <blockquote className="message">{ticket.body}</blockquote>

      <div aria-live="polite" className="live">
        {done && <p className="ok">{done}</p>}
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}

      {ticket.status === 'drafting' && <p role="status">A draft is being written…</p>}
      {draft && ticket.status !== 'drafting' && ticket.status !== 'replied' && mode !== 'edit' && <DraftView draft={draft} current />}

      {pending && mode === 'view' && (
        <div className="actions">
          <button type="button" onClick={approve} disabled={busy} aria-keyshortcuts="a">
            Approve and send
          </button>
          <button type="button" className="secondary" onClick={startEdit} disabled={busy} aria-keyshortcuts="e">
            Edit
          </button>
          <button type="button" className="secondary danger" onClick={startReject} disabled={busy} aria-keyshortcuts="r">
            Reject
          </button>
          <button
            type="button"
            className="link"
            onClick={() => {
              setText('');
              setMode('reply');
            }}
            disabled={busy}
          >
            Reply by hand
          </button>
        </div>
      )}
      {(ticket.status === 'rejected' || ticket.status === 'draft_failed') && mode === 'view' && (
        <div className="actions">
          <button type="button" onClick={regenerate} disabled={busy}>
            Ask for a new draft
          </button>
          <button
            type="button"
            className="secondary"
            onClick={() => {
              setText(draft?.editedBody ?? draft?.body ?? '');
              setMode('reply');
            }}
            disabled={busy}
          >
            Reply by hand
          </button>
        </div>
      )}

      {mode !== 'view' && (
        <form onSubmit={submit} className="decision">
          {mode === 'edit' && pending && <h3>Edit the draft</h3>}
          <label htmlFor="decision-text">{mode === 'reject' ? 'Why is this draft wrong? (the next draft follows it)' : mode === 'edit' ? 'Your version (sent to the customer)' : 'Your reply (sent to the customer)'}</label>
          <textarea id="decision-text" ref={editor} required rows={mode === 'reject' ? 3 : 8} value={text} onChange={(e) => setText(e.target.value)} />
          {mode === 'edit' && pending && <Diff before={pending.body ?? ''} after={text} />}
          <div className="actions">
            <button type="submit" disabled={busy || !text.trim()} className={mode === 'reject' ? 'danger' : undefined}>
              {mode === 'reject' ? 'Reject draft' : mode === 'edit' ? 'Send edited reply' : 'Send reply'}
            </button>
            <button type="button" className="secondary" onClick={() => setMode('view')} disabled={busy}>
              Cancel
            </button>
          </div>
        </form>
      )}

      {ticket.reply && (
        <>
          <h3>Reply sent {when(ticket.reply.sentAt)}</h3>
          <blockquote className="message reply">{ticket.reply.body}</blockquote>
        </>
      )}

      {earlier.length > 0 && (
        <details className="earlier">
          <summary>Earlier drafts ({earlier.length})</summary>
          {earlier.map((d) => (
            <DraftView key={d.id} draft={d} />
          ))}
        </details>
      )}
    </article>
  );
}

function DraftView({ draft, current }: { draft: Draft; current?: boolean }) {
  const Heading = current ? 'h3' : 'h4';
  return (
    <div className="draft">
      <Heading>
        {current && draft.status === 'pending' ? 'Draft reply' : `Draft ${draft.attempt} (${draft.status})`}
        {draft.model ? <span className="model"> · {draft.model}</span> : null}
      </Heading>
      {draft.body && <div className="body">{draft.body}</div>}
      {draft.failure && <p className="error">The draft could not be written: {draft.failure.reason}</p>}
      {draft.rejectReason && (
        <p>
          <strong>Rejected:</strong> {draft.rejectReason}
        </p>
      )}
      {draft.citations.length > 0 && (
        <>
          <p className="sources-title">Sources cited (for you; not sent to the customer)</p>
          <ol className="sources">
            {draft.citations.map((c) => (
              <li key={c.chunkId}>
                <span className="source-title">{c.title}</span>
                {c.text ? <blockquote className="passage">{c.text}</blockquote> : null}
              </li>
            ))}
          </ol>
        </>
      )}
    </div>
  );
}

function Diff({ before, after }: { before: string; after: string }) {
  const { left, right } = sideBySide(before, after);
  const side = (parts: Part[]) =>
    parts.map((p, i) => (p.kind === 'removed' ? <del key={i}>{p.text}</del> : p.kind === 'added' ? <ins key={i}>{p.text}</ins> : <span key={i}>{p.text}</span>));
  return (
    <div className="diff" role="group" aria-label="Changes: the draft beside your version">
      <div>
        <p className="diff-title">Draft</p>
        <div className="diff-text" data-side="before">
          {side(left)}
        </div>
      </div>
      <div>
        <p className="diff-title">Your version</p>
        <div className="diff-text" data-side="after">
          {side(right)}
        </div>
      </div>
    </div>
  );
}
