import type { TenantId } from '@hotdash/contracts';
import { DraftingModel, DraftPrompt, DraftResult, EarlierDraft, Embedder, takeCitations } from '@hotdash/platform-models';
import { retrievePassages, type VectorStore } from '@hotdash/platform-vector';
import type { DraftingProfile } from './drafting-profiles.repository';

export interface TicketText {
  customerName: string | null;
  subject: string | null;
  body: string;
}

/** A passage the draft cites, as the draft.generated event names it. */
export interface CitedPassage {
  chunkId: string;
  documentId: string;
  title: string;
  /** The passage itself, for the operator's view of the draft (encrypted before it leaves the worker). */
  text: string;
}

export interface ComposedDraft {
  prompt: DraftPrompt;
  result: DraftResult;
  /** The passages the model cited, in the order it cited them. */
  cited: CitedPassage[];
  /** Tokens the embedder billed for the retrieval query (metered with the model's). */
  retrievalTokens: number;
}

/**
 * The company a backfilled profile (made when the projection was created, from the shard's settings
 * only) is drafted for until the tenant's next settings event brings its name.
 */
export const UNNAMED_COMPANY = 'our company';

/**
 * Writes a draft for one ticket of one tenant: retrieves the tenant's best passages for the
 * ticket (hybrid search in the tenant's own namespace), builds the prompt from the tenant's
 * drafting profile (company name, brand voice, policies in the tenant's order: ai-drafting's own
 * copy, see DraftingProfiles) and those passages only, and calls the model. Nothing of another
 * tenant can reach the prompt: the search names the tenant, and the caller reads the profile of
 * the same tenant.
 *
 * A regeneration also carries the ticket's earlier drafts with the operator's reasons and edits
 * (the same tenant's, decrypted by the caller): they go into the prompt, the reasons also into the
 * retrieval query (an operator asking to "mention the warranty" should find the warranty passage),
 * and a few more passages are retrieved, so that the next draft can say something else.
 *
 * The reply goes to the customer without citation markers: whatever `[n]` a model still wrote is
 * taken out here, and the passages it named stay in the draft's citations, for the operator.
 */
export class DraftComposer {
  constructor(
    private readonly embedder: Embedder,
    private readonly vectors: VectorStore,
    private readonly passages = 5,
  ) {}

  async prompt(
    tenantId: TenantId,
    profile: DraftingProfile,
    ticket: TicketText,
    earlierDrafts: readonly EarlierDraft[] = [],
  ): Promise<{ prompt: DraftPrompt; retrievalTokens: number; sources: Map<string, CitedPassage> }> {
    const reasons = earlierDrafts.flatMap((d) => (d.rejectionReason ? [d.rejectionReason] : []));
    const question = [ticket.subject, ticket.body, ...reasons].filter(Boolean).join('\n');
    const limit = earlierDrafts.length ? this.passages + 3 : this.passages;
    const { hits, tokens } = await retrievePassages(tenantId, question, limit, { embedder: this.embedder, vectors: this.vectors });
    return {
      prompt: {
        companyName: profile.companyName ?? UNNAMED_COMPANY,
        brandVoice: profile.brandVoice,
        // An empty list: the prompt has no policies section (chatMessages leaves it out).
        policies: [...profile.policies],
        passages: hits.map((h) => ({ id: h.id, title: h.title, text: h.text })),
        ticket,
        ...(earlierDrafts.length ? { earlierDrafts: [...earlierDrafts] } : {}),
      },
      retrievalTokens: tokens,
      sources: new Map(hits.map((h) => [h.id, { chunkId: h.id, documentId: h.documentId, title: h.title, text: h.text }])),
    };
  }

  async compose(tenantId: TenantId, profile: DraftingProfile, ticket: TicketText, model: DraftingModel, earlierDrafts: readonly EarlierDraft[] = []): Promise<ComposedDraft> {
    const { prompt, retrievalTokens, sources } = await this.prompt(tenantId, profile, ticket, earlierDrafts);
    const drafted = await model.draft(prompt);
    const { text, citations } = takeCitations(drafted.text, prompt.passages);
    const result = { ...drafted, text: text || drafted.text, citations: [...new Set([...drafted.citations, ...citations])] };
    const cited = result.citations.flatMap((id) => sources.get(id) ?? []);
    return { prompt, result, cited, retrievalTokens };
  }
}
