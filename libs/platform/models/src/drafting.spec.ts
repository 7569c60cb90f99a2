// The OpenAI chat adapter, tested against a local HTTP server speaking chat-completions (the real
// API is out of reach here), from what the server receives (the tenant's company, voice, policies
// and passages only, and the ticket; for a regeneration the earlier drafts with the operator's
// reasons and edits) to what comes back (the reply without citation markers, the passages it
// cited, tokens, errors). The offline drafter has its own spec (offline-drafter.spec.ts).
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chatMessages, DraftPrompt, EarlierDraft, ModelError, OpenAiChatModel } from './index';

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
    // The reply is the customer's: no markers in it; the passages used go on a "Sources:" line for the operator.
    expect(system!.content).toMatch(/No citation markers such as \[1\]/);
    expect(system!.content).toMatch(/"Sources: 1, 3"/);
    expect(system!.content).not.toMatch(/earlier drafts/i);
  });

  it('gives a regeneration the earlier drafts with the operator’s reasons and edits', () => {
    const earlier: EarlierDraft[] = [
      { attempt: 1, text: 'Hello Dana,\n\nOrders ship within 2 business days.\n\nKind regards,\nAcme Support', rejectionReason: 'Wrong topic: she asks about the refund', editedText: null },
      { attempt: 2, text: 'Hello Dana,\n\nRefunds reach your card within 5 days.', rejectionReason: 'Too formal', editedText: 'Hi Dana,\n\nYour refund is on its way: 5 days at most.' },
    ];
    const [system, user] = chatMessages(prompt({ earlierDrafts: earlier }));
    expect(system!.content).toMatch(/turned down the earlier drafts[\s\S]*Earlier draft 1:\n"""\nHello Dana,\n\nOrders ship within 2 business days\.[\s\S]*The operator rejected it because: Wrong topic: she asks about the refund/);
    expect(system!.content).toMatch(/Earlier draft 2:[\s\S]*The operator rejected it because: Too formal\nThe operator's corrected version of it:\n"""\nHi Dana,\n\nYour refund is on its way: 5 days at most\.\n"""/);
    // The ticket stays the user's message, alone.
    expect(user).toEqual(chatMessages(prompt())[1]);
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

  it('sends the prompt as chat messages with the key, and returns the reply without markers, the passages it cited and the tokens', async () => {
    answer = reply('Hello Dana,\n\nRefunds reach your card within 5 days [2]. Returns are free [2].\n\nKind regards,\nAcme\n\nSources: 2');
    const m = new OpenAiChatModel({ baseUrl: base, apiKey: 'sk-tenant', model: 'gpt-test' });
    const d = await m.draft(prompt());
    expect(d).toEqual({ text: 'Hello Dana,\n\nRefunds reach your card within 5 days. Returns are free.\n\nKind regards,\nAcme', citations: ['c-ret'], model: 'gpt-test', usage: { promptTokens: 321, completionTokens: 54 } });
    expect(received).toHaveLength(1);
    expect(received[0]!.auth).toBe('Bearer sk-tenant');
    expect(received[0]!.body).toMatchObject({ model: 'gpt-test', messages: chatMessages(prompt()) });
  });

  it('sends a regeneration’s earlier drafts, reasons and edits to the model', async () => {
    answer = reply('Hi Dana,\n\nYour refund reaches your card within 5 days.\n\nBest,\nAcme\n\nSources: 2');
    const earlier: EarlierDraft[] = [{ attempt: 1, text: 'Hello Dana,\n\nOrders ship within 2 business days [1].', rejectionReason: 'Wrong topic, and too formal', editedText: 'Hi Dana,\n\nYour refund is on its way.' }];
    const d = await new OpenAiChatModel({ baseUrl: base, apiKey: 'sk-tenant', model: 'gpt-test' }).draft(prompt({ earlierDrafts: earlier }));
    expect(d).toMatchObject({ text: 'Hi Dana,\n\nYour refund reaches your card within 5 days.\n\nBest,\nAcme', citations: ['c-ret'] });
    expect(received).toHaveLength(1);
    const system = received[0]!.body.messages[0]!.content;
    expect(system).toContain('The operator rejected it because: Wrong topic, and too formal');
    expect(system).toContain('"""\nHi Dana,\n\nYour refund is on its way.\n"""');
    expect(system).toContain('"""\nHello Dana,\n\nOrders ship within 2 business days [1].\n"""');
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
