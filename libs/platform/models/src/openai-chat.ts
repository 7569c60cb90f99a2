import { chatMessages, DraftingModel, DraftPrompt, DraftResult } from './drafting-model';
import { ModelError } from './errors';
import type OpenAI from 'openai';
import { modelErrorOf, openAiClient, OpenAiClientOptions } from './openai-client';
import { takeCitations } from './reply-text';

export interface OpenAiChatOptions extends OpenAiClientOptions {
  /** e.g. `gpt-4o-mini`. */
  model: string;
  temperature?: number;
  /** Longest reply, in tokens. Default 600. */
  maxTokens?: number;
}

/**
 * Drafts from an OpenAI-compatible `/chat/completions` API through the official SDK (configurable base URL: the platform's
 * key or a tenant's own): the prompt's messages (chatMessages: the tenant's company, voice,
 * policies and passages only, then the ticket; for a regeneration, the earlier drafts with the
 * operator's reasons and edits), the reply's text as the customer reads it (its "Sources:" line and
 * any [n] marker taken out), the passages those named, and the tokens billed.
 */
export class OpenAiChatModel extends DraftingModel {
  readonly model: string;
  private readonly client: OpenAI;

  constructor(private readonly options: OpenAiChatOptions) {
    super();
    if (!options.apiKey) throw new ModelError('model-auth-failed', 'no API key configured for the chat model', false);
    this.client = openAiClient(options);
    this.model = options.model;
  }

  async draft(p: DraftPrompt): Promise<DraftResult> {
    let answer: OpenAI.ChatCompletion;
    try {
      answer = await this.client.chat.completions.create({
        model: this.model,
        messages: chatMessages(p),
        temperature: this.options.temperature ?? 0.2,
        max_tokens: this.options.maxTokens ?? 600,
      });
    } catch (err) {
      throw modelErrorOf(err, `${this.client.baseURL}/chat/completions`);
    }
    const content: unknown = answer?.choices?.[0]?.message?.content;
    if (typeof content !== 'string' || content.trim() === '') throw new ModelError('model-bad-answer', 'the chat answer has no message content', true);
    const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    const { text, citations } = takeCitations(content, p.passages);
    if (text === '') throw new ModelError('model-bad-answer', 'the chat answer has no reply besides its sources', true);
    return {
      text,
      citations,
      model: typeof answer.model === 'string' ? answer.model : this.model,
      usage: { promptTokens: n(answer.usage?.prompt_tokens), completionTokens: n(answer.usage?.completion_tokens) },
    };
  }
}
