import { parseSettings } from '@hotdash/platform-config';
import type { DraftingModel } from './drafting-model';
import type { Embedder } from './embedder';
import { LocalEmbedder } from './local-embedder';
import { OfflineDrafter } from './offline-drafter';
import { OpenAiChatModel } from './openai-chat';
import { OpenAiEmbedder } from './openai-embedder';

/** The field a tenant's own model API key is encrypted under in `model_configs` (provisioning writes it, ai-drafting reads it). */
export const MODEL_API_KEY_FIELD = 'model_configs.api_key';

/**
 * The platform's embedder from the environment: HOTDASH_EMBEDDER=local (default: offline,
 * deterministic) or openai (HOTDASH_OPENAI_BASE_URL, HOTDASH_OPENAI_API_KEY,
 * HOTDASH_EMBEDDING_MODEL, HOTDASH_EMBEDDING_DIMENSIONS). Every tenant's chunks share one
 * collection, and a query embedded by another model than the chunks finds nothing: the knowledge
 * service (indexing) and ai-drafting (retrieval) both build theirs here.
 */
export function embedderFromEnv(env: NodeJS.ProcessEnv = process.env): Embedder {
  const s = parseSettings(env);
  if (s.HOTDASH_EMBEDDER === 'local') return new LocalEmbedder(s.HOTDASH_EMBEDDING_DIMENSIONS ?? 384);
  return new OpenAiEmbedder({
    baseUrl: s.HOTDASH_OPENAI_BASE_URL,
    apiKey: s.HOTDASH_OPENAI_API_KEY ?? '',
    model: s.HOTDASH_EMBEDDING_MODEL,
    dimensions: s.HOTDASH_EMBEDDING_DIMENSIONS ?? 1536,
  });
}

/**
 * The platform's drafting model from the environment: HOTDASH_DRAFTING_MODEL=offline (default:
 * extractive, no network) or openai (HOTDASH_OPENAI_BASE_URL, HOTDASH_OPENAI_API_KEY,
 * HOTDASH_CHAT_MODEL). Tenants in model mode 'platform' draft with it.
 */
export function draftingModelFromEnv(env: NodeJS.ProcessEnv = process.env): DraftingModel {
  const s = parseSettings(env);
  if (s.HOTDASH_DRAFTING_MODEL === 'offline') return new OfflineDrafter();
  return new OpenAiChatModel({ baseUrl: s.HOTDASH_OPENAI_BASE_URL, apiKey: s.HOTDASH_OPENAI_API_KEY ?? '', model: s.HOTDASH_CHAT_MODEL });
}
