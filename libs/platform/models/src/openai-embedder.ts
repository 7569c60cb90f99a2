import { Embedder, Embeddings } from './embedder';
import { ModelError } from './errors';
import type OpenAI from 'openai';
import { modelErrorOf, openAiClient, OpenAiClientOptions } from './openai-client';

export interface OpenAiEmbedderOptions extends OpenAiClientOptions {
  /** e.g. `text-embedding-3-small`. */
  model: string;
  /** Dimensions of the model's vectors (checked on every answer). */
  dimensions: number;
  /** Send `dimensions` in the request (models that can shorten their vectors, like text-embedding-3-*). Default false. */
  requestDimensions?: boolean;
  /** Texts per request. Default 96. */
  batchSize?: number;
}

/** What is read of the answer: checked field by field (a compatible server may answer otherwise than the SDK's types say). */
interface EmbeddingsAnswer {
  data?: { index?: unknown; embedding?: unknown }[];
  model?: unknown;
  usage?: { total_tokens?: unknown; prompt_tokens?: unknown };
}

/**
 * Embeddings from an OpenAI-compatible `/embeddings` API through the official SDK (configurable base URL, so any compatible
 * provider or a tenant's own endpoint): texts in batches, answers put back in input order by
 * their `index`, each vector checked for its size, tokens summed for metering.
 */
export class OpenAiEmbedder extends Embedder {
  readonly model: string;
  readonly dimensions: number;
  private readonly batchSize: number;
  private readonly client: OpenAI;

  constructor(private readonly options: OpenAiEmbedderOptions) {
    super();
    if (!options.apiKey) throw new ModelError('model-auth-failed', 'no API key configured for the OpenAI embedder', false);
    this.client = openAiClient(options); // throws on a malformed base URL, at start-up rather than at the first document
    this.model = options.model;
    this.dimensions = options.dimensions;
    this.batchSize = options.batchSize ?? 96;
  }

  async embed(texts: readonly string[]): Promise<Embeddings> {
    const vectors: number[][] = [];
    let tokens = 0;
    for (let i = 0; i < texts.length; i += this.batchSize) {
      const input = texts.slice(i, i + this.batchSize);
      let answer: EmbeddingsAnswer;
      try {
        answer = (await this.client.embeddings.create({
          model: this.model,
          input,
          encoding_format: 'float',
          ...(this.options.requestDimensions ? { dimensions: this.dimensions } : {}),
        })) as EmbeddingsAnswer;
      } catch (err) {
        throw modelErrorOf(err, `${this.client.baseURL}/embeddings`);
      }
      if (!Array.isArray(answer?.data) || answer.data.length !== input.length) {
        throw new ModelError('model-bad-answer', `the embeddings answer has ${Array.isArray(answer?.data) ? answer.data.length : 'no'} vectors for ${input.length} texts`, true);
      }
      const batch = new Array<number[] | undefined>(input.length);
      for (const d of answer.data) {
        const index = typeof d.index === 'number' ? d.index : -1;
        const v = d.embedding;
        if (index < 0 || index >= input.length || batch[index]) throw new ModelError('model-bad-answer', `the embeddings answer has a bad or repeated index ${String(d.index)}`, true);
        if (!Array.isArray(v) || v.length !== this.dimensions || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
          throw new ModelError('model-bad-answer', `the embeddings answer has a vector of ${Array.isArray(v) ? v.length : 'no'} numbers; the store expects ${this.dimensions}`, false);
        }
        batch[index] = v as number[];
      }
      vectors.push(...(batch as number[][]));
      const used = answer.usage?.total_tokens ?? answer.usage?.prompt_tokens;
      tokens += typeof used === 'number' && Number.isFinite(used) ? used : 0;
    }
    return { vectors, model: this.model, tokens };
  }
}
