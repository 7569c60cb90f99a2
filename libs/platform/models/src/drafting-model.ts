/** A passage of the tenant's knowledge base given to the model, as retrieval found it. */
export interface PromptPassage {
  /** The chunk's id: citations name it. */
  id: string;
  title: string;
  text: string;
}

/** What a draft is written from: the tenant's own settings and passages, and the ticket. Nothing else goes to the model. */
export interface DraftPrompt {
  companyName: string;
  /** How the tenant's replies sound (e.g. "friendly, concise, no jargon"). */
  brandVoice: string;
  /** Rules the reply must keep (e.g. "never promise refunds over 100 EUR"). */
  policies: string[];
  passages: PromptPassage[];
  ticket: { customerName: string | null; subject: string | null; body: string };
  /**
   * A regeneration: the ticket's earlier drafts the operator turned down or corrected, oldest
   * first, with what the operator said of them. The next draft must differ and follow it. Absent
   * or empty for a ticket's first draft.
   */
  earlierDrafts?: EarlierDraft[];
}

/** An earlier draft of the same ticket and the operator's verdict on it (decrypted in memory only, by ai-drafting). */
export interface EarlierDraft {
  attempt: number;
  /** The draft as it was written; null when that attempt produced none. */
  text: string | null;
  /** Why the operator rejected it. */
  rejectionReason: string | null;
  /** The operator's own version of it (their edit), when they wrote one. */
  editedText: string | null;
}

export interface DraftResult {
  text: string;
  /** Ids of the passages the draft draws on. */
  citations: string[];
  model: string;
  usage: { promptTokens: number; completionTokens: number };
}

/**
 * The drafting model port (ai-drafting). Adapters: {@link OfflineDrafter} (default: deterministic,
 * extractive, cites its passages) and {@link OpenAiChatModel} (any OpenAI-compatible
 * chat-completions API). An abstract class so that it can also serve as a Nest injection token.
 */
export abstract class DraftingModel {
  abstract readonly model: string;
  abstract draft(prompt: DraftPrompt): Promise<DraftResult>;
}

/**
 * The chat messages for a prompt: the system message carries the company, its voice, its policies
 * and its passages (numbered, for the operator's "Sources:" line: the reply itself carries no
 * citation markers), and, for a regeneration, the earlier drafts with the operator's reasons and
 * edits; the user message is the ticket.
 */
export function chatMessages(p: DraftPrompt): { role: 'system' | 'user'; content: string }[] {
  const passages = p.passages.map((x, i) => `[${i + 1}] ${x.title}\n${x.text}`).join('\n\n');
  const system = [
    `You draft replies for the customer support of ${p.companyName}. An operator reviews every draft before it is sent.`,
    `Voice: ${p.brandVoice || 'friendly and concise'}.`,
    p.policies.length ? `Policies you must keep:\n${p.policies.map((x) => `- ${x}`).join('\n')}` : '',
    'Write the reply exactly as the customer will read it: greet them by name, answer in plain sentences as a person would, and sign off. No citation markers such as [1], no passage numbers or titles, no markdown headings or lists in the reply.',
    p.passages.length
      ? `Answer only from these passages of ${p.companyName}'s knowledge base. If they do not answer the question, say that an agent will follow up.\n\n${passages}\n\nAfter the reply, on a last line of its own, name the passages you used by number, as "Sources: 1, 3" (or "Sources: none"): that line is for the operator and is removed before the customer sees the reply.`
      : `There are no knowledge-base passages for this question: say that an agent will follow up, without inventing an answer.`,
    earlierDraftsSection(p.earlierDrafts ?? []),
  ]
    .filter(Boolean)
    .join('\n\n');
  const user = [p.ticket.customerName ? `Customer: ${p.ticket.customerName}` : '', p.ticket.subject ? `Subject: ${p.ticket.subject}` : '', p.ticket.body].filter(Boolean).join('\n');
  return [
    { role: 'system', content: system },
    { role: 'user', content: user },
  ];
}

/** The regeneration's part of the system message: each earlier draft, the operator's reason and their edit. */
function earlierDraftsSection(earlier: readonly EarlierDraft[]): string {
  const shown = earlier.filter((d) => d.rejectionReason || d.editedText);
  if (!shown.length) return '';
  const quote = (s: string) => `"""\n${s.trim()}\n"""`;
  const entries = shown.map((d) =>
    [
      `Earlier draft ${d.attempt}:`,
      d.text ? quote(d.text) : '(no text)',
      d.rejectionReason ? `The operator rejected it because: ${d.rejectionReason.trim()}` : '',
      d.editedText ? `The operator's corrected version of it:\n${quote(d.editedText)}` : '',
    ]
      .filter(Boolean)
      .join('\n'),
  );
  return [
    'The operator turned down the earlier drafts of this reply. Write a new draft that is different from them and does what the operator asked: follow their reasons, and keep what they corrected. Their words are instructions for you, not text for the customer.',
    ...entries,
  ].join('\n\n');
}
