// The drafting models: the offline drafter is extractive, deterministic and cites what it quotes;
// the OpenAI chat adapter is tested against a local HTTP server speaking chat-completions (the real
// API is out of reach here), from what the server receives (the tenant's company, voice, policies
// and passages only, and the ticket) to what comes back (text, citations, tokens, errors).
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chatMessages, DraftPrompt, ModelError, OfflineDrafter, OpenAiChatModel } from './index';

const prompt = (over: Partial<DraftPrompt> = {}): DraftPrompt => ({
  companyName: 'Acme',
  brandVoice: 'warm and brief',
  policies: ['Never promise a refund above 100 EUR.'],
  passages: [
    { id: 'c-ship', title: 'Shipping', text: 'Orders ship within 2 business days. Express shipping costs 9 EUR.' },
    { id: 'c-ret', title: 'Returns', text: 'You can return unused items within 30 days. Refunds reach your card within 5 days.' },
  ],
  ticket: { customerName: 'Dana', subject: 'Refund', body: 'How long until my refund reaches my card after I return the item?' },
  ...over,
});

describe('OfflineDrafter', () => {
  const drafter = new OfflineDrafter();

  it('quotes the sentences that answer the ticket, cites their passages, and greets by name', async () => {
    const d = await drafter.draft(prompt());
    expect(d.text).toMatch(/^Hello Dana,/);
    expect(d.text).toContain('Refunds reach your card within 5 days. [2]');
    expect(d.text).toMatch(/Kind regards,\nAcme Support$/);
    expect(d.citations).toEqual(['c-ret']);
    expect(d.model).toBe('offline-extractive-1');
    // No model ran: no tokens to meter.
    expect(d.usage).toEqual({ promptTokens: 0, completionTokens: 0 });
    expect(await drafter.draft(prompt())).toEqual(d);
  });

  it('says an agent will follow up when no passage answers, and cites nothing', async () => {
    const d = await drafter.draft(prompt({ ticket: { customerName: null, subject: null, body: 'Do you sell gift cards?' } }));
    expect(d.text).toMatch(/^Hello,\n\nThank you for reaching out\. A member of our team will look into your question/);
    expect(d.citations).toEqual([]);
  });
});

describe('chatMessages', () => {
  it('puts the company, voice, policies and numbered passages in the system message, and the ticket in the user message', () => {
    const [system, user] = chatMessages(prompt());
    expect(system!.content).toContain('customer support of Acme');
    expect(system!.content).toContain('Voice: warm and brief.');
    expect(system!.content).toContain('- Never promise a refund above 100 EUR.');
    expect(system!.content).toContain('[1] Shipping\nOrders ship within 2 business days.');
    expect(system!.content).toContain('[2] Returns\n');
    expect(user).toEqual({ role: 'user', content: 'Customer: Dana\nSubject: Refund\nHow long until my refund reaches my card after I return the item?' });
    expect(chatMessages(prompt({ passages: [] }))[0]!.content).toMatch(/no knowledge-base passages/);
  });
});

describe('OpenAiChatModel against a local OpenAI-compatible server', () => {
  let server: Server;
  let base: string;
  const received: { auth?: string; body: { model: string; messages: { role: string; content: string }[] } }[] = [];
  let answer: (res: import('node:http').ServerResponse) => void;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        if (req.url !== '/v1/chat/completions') return void res.writeHead(404).end();
        received.push({ auth: req.headers.authorization, body: JSON.parse(raw) });
        answer(res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => (received.length = 0));

  const reply = (content: string) => (res: import('node:http').ServerResponse) =>
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ id: 'x', object: 'chat.completion', model: 'gpt-test', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage: { prompt_tokens: 321, completion_tokens: 54, total_tokens: 375 } }));

  it('sends the prompt as chat messages with the key, and returns the text, its citations and the tokens', async () => {
    answer = reply('Hello Dana, refunds reach your card within 5 days [2]. Returns are free [2].');
    const m = new OpenAiChatModel({ baseUrl: base, apiKey: 'sk-tenant', model: 'gpt-test' });
    const d = await m.draft(prompt());
    expect(d).toEqual({ text: 'Hello Dana, refunds reach your card within 5 days [2]. Returns are free [2].', citations: ['c-ret'], model: 'gpt-test', usage: { promptTokens: 321, completionTokens: 54 } });
    expect(received).toHaveLength(1);
    expect(received[0]!.auth).toBe('Bearer sk-tenant');
    expect(received[0]!.body).toMatchObject({ model: 'gpt-test', messages: chatMessages(prompt()) });
  });

  it('refuses an answer without content, and names a refused key without repeating it', async () => {
    answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ choices: [] }));
    await expect(new OpenAiChatModel({ baseUrl: base, apiKey: 'k', model: 'm' }).draft(prompt())).rejects.toMatchObject({ code: 'model-bad-answer' });
    answer = (res) => res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'Incorrect API key provided' } }));
    const err = await new OpenAiChatModel({ baseUrl: base, apiKey: 'sk-secret', model: 'm' }).draft(prompt()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect(err).toMatchObject({ code: 'model-auth-failed', retryable: false });
    expect((err as Error).message).not.toContain('sk-secret');
  });
});
