import type { TenantId } from '@hotdash/contracts';
import { ControlDatabase, TenantDatabase } from '@hotdash/platform-db';
import { DraftingModel, DraftPrompt, DraftResult, Embedder } from '@hotdash/platform-models';
import { retrievePassages, type VectorStore } from '@hotdash/platform-vector';

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
}

export interface ComposedDraft {
  prompt: DraftPrompt;
  result: DraftResult;
  /** The passages the model cited, in the order it cited them. */
  cited: CitedPassage[];
  /** Tokens the embedder billed for the retrieval query (metered with the model's). */
  retrievalTokens: number;
}

/** Placeholder policies provisioning writes until an admin sets real ones: not sent to the model. */
const PLACEHOLDER = /^No policies yet/i;

/**
 * Writes a draft for one ticket of one tenant: retrieves the tenant's best passages for the
 * ticket (hybrid search in the tenant's own namespace), builds the prompt from the tenant's
 * company name, brand voice and policies and those passages only, and calls the model. Every
 * read names the tenant: nothing of another tenant can reach the prompt.
 */
export class DraftComposer {
  constructor(
    private readonly db: TenantDatabase,
    private readonly control: ControlDatabase,
    private readonly embedder: Embedder,
    private readonly vectors: VectorStore,
    private readonly passages = 5,
  ) {}

  async prompt(tenantId: TenantId, ticket: TicketText): Promise<{ prompt: DraftPrompt; retrievalTokens: number; sources: Map<string, CitedPassage> }> {
    const question = [ticket.subject, ticket.body].filter(Boolean).join('\n');
    // Three independent reads, all naming the tenant: side by side.
    const [[tenant], [settings], { hits, tokens }] = await Promise.all([
      this.control.client.$queryRaw<{ name: string }[]>`select name from tenants where id = ${tenantId}::uuid`,
      this.db.withTenant(tenantId, (tx) => tx.$queryRaw<{ brand_voice: string; policies: string }[]>`select brand_voice, policies from tenant_settings`),
      retrievePassages(tenantId, question, this.passages, { embedder: this.embedder, vectors: this.vectors }),
    ]);
    if (!tenant) throw new Error(`tenant ${tenantId} is not known to the control plane`);
    const policies = (settings?.policies ?? '')
      .split('\n')
      .map((p) => p.replace(/^[-*\s]+/, '').trim())
      .filter((p) => p !== '' && !PLACEHOLDER.test(p));
    return {
      prompt: {
        companyName: tenant.name,
        brandVoice: settings?.brand_voice ?? '',
        policies,
        passages: hits.map((h) => ({ id: h.id, title: h.title, text: h.text })),
        ticket,
      },
      retrievalTokens: tokens,
      sources: new Map(hits.map((h) => [h.id, { chunkId: h.id, documentId: h.documentId, title: h.title }])),
    };
  }

  async compose(tenantId: TenantId, ticket: TicketText, model: DraftingModel): Promise<ComposedDraft> {
    const { prompt, retrievalTokens, sources } = await this.prompt(tenantId, ticket);
    const result = await model.draft(prompt);
    const cited = result.citations.flatMap((id) => sources.get(id) ?? []);
    return { prompt, result, cited, retrievalTokens };
  }
}
