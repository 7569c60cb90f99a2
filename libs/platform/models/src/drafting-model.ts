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
 * and its passages (numbered, to be cited as [n]) and tells the model to answer from them only; the
 * user message is the ticket.
 */
export function chatMessages(p: DraftPrompt): { role: 'system' | 'user'; content: string }[] {
  const passages = p.passages.map((x, i) => `[${i + 1}] ${x.title}\n${x.text}`).join('\n\n');
  const system = [
    `You draft replies for the customer support of ${p.companyName}. An operator reviews every draft before it is sent.`,
    `Voice: ${p.brandVoice || 'friendly and concise'}.`,
    p.policies.length ? `Policies you must keep:\n${p.policies.map((x) => `- ${x}`).join('\n')}` : '',
    p.passages.length
      ? `Answer only from these passages of ${p.companyName}'s knowledge base, and cite each one you use as [n]. If they do not answer the question, say that an agent will follow up.\n\n${passages}`
      : `There are no knowledge-base passages for this question: say that an agent will follow up, without inventing an answer.`,
  ]
    .filter(Boolean)
    .join('\n\n');
  const user = [p.ticket.customerName ? `Customer: ${p.ticket.customerName}` : '', p.ticket.subject ? `Subject: ${p.ticket.subject}` : '', p.ticket.body].filter(Boolean).join('\n');
  return [
    { role: 'system', content: system },
    { role: 'user', content: user },
  ];
}

/** The passages a draft cites as [n] (1-based, as numbered in the prompt), in order, once each. */
export function citedPassages(text: string, passages: readonly PromptPassage[]): string[] {
  const ids: string[] = [];
  for (const m of text.matchAll(/\[(\d{1,3})\]/g)) {
    const p = passages[Number(m[1]) - 1];
    if (p && !ids.includes(p.id)) ids.push(p.id);
  }
  return ids;
}
