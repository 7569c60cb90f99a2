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
  const kind = env.HOTDASH_EMBEDDER ?? 'local';
  if (kind === 'local') return new LocalEmbedder(Number(env.HOTDASH_EMBEDDING_DIMENSIONS ?? 384));
  if (kind !== 'openai') throw new Error(`HOTDASH_EMBEDDER must be local or openai, got ${kind}`);
  return new OpenAiEmbedder({
    baseUrl: env.HOTDASH_OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
    apiKey: env.HOTDASH_OPENAI_API_KEY ?? '',
    model: env.HOTDASH_EMBEDDING_MODEL ?? 'text-embedding-3-small',
    dimensions: Number(env.HOTDASH_EMBEDDING_DIMENSIONS ?? 1536),
  });
}

/**
 * The platform's drafting model from the environment: HOTDASH_DRAFTING_MODEL=offline (default:
 * extractive, no network) or openai (HOTDASH_OPENAI_BASE_URL, HOTDASH_OPENAI_API_KEY,
 * HOTDASH_CHAT_MODEL). Tenants in model mode 'platform' draft with it.
 */
export function draftingModelFromEnv(env: NodeJS.ProcessEnv = process.env): DraftingModel {
  const kind = env.HOTDASH_DRAFTING_MODEL ?? 'offline';
  if (kind === 'offline') return new OfflineDrafter();
  if (kind !== 'openai') throw new Error(`HOTDASH_DRAFTING_MODEL must be offline or openai, got ${kind}`);
  return new OpenAiChatModel({
    baseUrl: env.HOTDASH_OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
    apiKey: env.HOTDASH_OPENAI_API_KEY ?? '',
    model: env.HOTDASH_CHAT_MODEL ?? 'gpt-4o-mini',
  });
}
