/** A ticket as the queue list shows it (only what an announcement names). */
export interface Listed {
  id: string;
  subject?: string | null;
}

const subject = (t: Listed) => t.subject ?? '(no subject)';

/**
 * What each refresh of the queue list brought, for the screen reader: tickets the list of that
 * status never showed before ("New ticket"), and tickets that left it and came back ("Back in …",
 * a rejected ticket redrafted), whatever brought the refresh (a push, the poll, the operator's own
 * action). The first page of a status is no news. One refresh can bring both, and they are said
 * together: announcing a returning ticket as new, or as the only news, hid the new one.
 */
export class QueueNews {
  private status: string | null = null;
  private last = new Set<string>();
  private ever = new Set<string>();

  /** The page just read for `status` (shown as `label`); the announcement, or null when nothing is news. */
  refresh(status: string, label: string, tickets: Listed[]): string | null {
    const ids = new Set(tickets.map((t) => t.id));
    if (status !== this.status) {
      this.status = status;
      this.last = ids;
      this.ever = new Set(ids);
      return null;
    }
    const fresh = tickets.filter((t) => !this.last.has(t.id));
    const added = fresh.filter((t) => !this.ever.has(t.id));
    const back = fresh.filter((t) => this.ever.has(t.id));
    this.last = ids;
    for (const id of ids) this.ever.add(id);
    const parts: string[] = [];
    if (added.length === 1) parts.push(`New ticket (${label}): ${subject(added[0]!)}`);
    else if (added.length > 1) parts.push(`${added.length} new tickets (${label}): ${named(added)}`);
    if (back.length === 1) parts.push(`Back in ${label}: ${subject(back[0]!)}`);
    else if (back.length > 1) parts.push(`${back.length} tickets back in ${label}: ${named(back)}`);
    return parts.length ? parts.join('. ') : null;
  }
}

/** Up to three subjects, then how many more. */
function named(tickets: Listed[]): string {
  const names = tickets.slice(0, 3).map(subject).join('; ');
  return tickets.length > 3 ? `${names} and ${tickets.length - 3} more` : names;
}
