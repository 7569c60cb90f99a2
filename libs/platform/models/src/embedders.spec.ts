// The embedders: the offline one is deterministic and lexical; the OpenAI adapter is tested against
// a local HTTP server speaking the embeddings API (the real API is out of reach here), from what it
// sends (model, batches, key) to how it copes with what it gets back (shuffled order, 429 with
// Retry-After, a refused key, vectors of the wrong size, no answer at all).
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LocalEmbedder, ModelError, OpenAiEmbedder } from './index';

const cosine = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('LocalEmbedder', () => {
  const e = new LocalEmbedder(256);

  it('gives the same unit vector for the same text, every time', async () => {
    const { vectors, model, tokens } = await e.embed(['Refunds are paid within 30 days.', 'Refunds are paid within 30 days.']);
    expect(vectors[0]).toEqual(vectors[1]);
    expect(vectors[0]).toHaveLength(256);
    expect(Math.hypot(...vectors[0]!)).toBeCloseTo(1, 10);
    expect([model, tokens]).toEqual(['local-hash-256', 0]);
  });

  it('puts texts sharing words near each other and unrelated texts far apart, ignoring case and punctuation', () => {
    const q = e.vector('how long do REFUNDS take?');
    const related = e.vector('Refunds take up to 30 days.');
    const unrelated = e.vector('Our office is closed on public holidays.');
    expect(cosine(q, related)).toBeGreaterThan(0.3);
    expect(Math.abs(cosine(q, unrelated))).toBeLessThan(0.2);
    expect(cosine(q, related)).toBeGreaterThan(cosine(q, unrelated));
  });

  it('gives an empty text a fixed vector, and refuses a silly size', () => {
    expect(e.vector('')).toEqual(e.vector('?!'));
    expect(() => new LocalEmbedder(2)).toThrow(RangeError);
  });
});

describe('OpenAiEmbedder against a local OpenAI-compatible server', () => {
  let server: Server;
  let base: string;
  let handler: (req: IncomingMessage, body: { model: string; input: string[]; dimensions?: number }, res: ServerResponse) => void;
  const requests: { auth: string | undefined; body: { model: string; input: string[]; dimensions?: number } }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        if (req.url !== '/v1/embeddings' || req.method !== 'POST') {
          res.writeHead(404).end();
          return;
        }
        const body = JSON.parse(raw) as { model: string; input: string[]; dimensions?: number };
        requests.push({ auth: req.headers.authorization, body });
        handler(req, body, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => (requests.length = 0));

  /** Answers like the API: one vector per input (the input's length in the first place), in reverse order. */
  const answering = (dims: number) => (_req: IncomingMessage, body: { input: string[] }, res: ServerResponse) => {
    const data = body.input.map((text, index) => ({ object: 'embedding', index, embedding: [text.length, ...new Array<number>(dims - 1).fill(0.5)] })).reverse();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data, model: 'text-embedding-3-small', usage: { prompt_tokens: body.input.length * 3, total_tokens: body.input.length * 3 } }));
  };

  it('sends the model and the key, batches the texts, and puts the vectors back in input order', async () => {
    handler = answering(4);
    const e = new OpenAiEmbedder({ baseUrl: base, apiKey: 'sk-test', model: 'text-embedding-3-small', dimensions: 4, batchSize: 2, requestDimensions: true });
    const texts = ['a', 'bb', 'ccc', 'dddd', 'eeeee'];
    const r = await e.embed(texts);
    expect(r.vectors.map((v) => v[0])).toEqual([1, 2, 3, 4, 5]);
    expect(r.tokens).toBe(15);
    expect(requests.map((q) => q.body.input)).toEqual([['a', 'bb'], ['ccc', 'dddd'], ['eeeee']]);
    expect(requests.every((q) => q.auth === 'Bearer sk-test' && q.body.model === 'text-embedding-3-small' && q.body.dimensions === 4)).toBe(true);
  });

  it('waits as told by a 429 Retry-After, then succeeds', async () => {
    let calls = 0;
    handler = (req, body, res) => {
      if (calls++ === 0) res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'slow down' } }));
      else answering(4)(req, body, res);
    };
    const e = new OpenAiEmbedder({ baseUrl: base, apiKey: 'sk-test', model: 'm', dimensions: 4 });
    expect((await e.embed(['x'])).vectors).toHaveLength(1);
    expect(calls).toBe(2);
  });

  it('says what went wrong: a refused key, vectors of another size, a server that never answers', async () => {
    handler = (_req, _body, res) => res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'Incorrect API key provided' } }));
    const refused = await new OpenAiEmbedder({ baseUrl: base, apiKey: 'sk-wrong', model: 'm', dimensions: 4 }).embed(['x']).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ModelError);
    expect(refused).toMatchObject({ code: 'model-auth-failed', retryable: false });
    expect((refused as Error).message).toMatch(/Incorrect API key provided/);
    expect((refused as Error).message).not.toContain('sk-wrong');

    handler = answering(3);
    const wrongSize = await new OpenAiEmbedder({ baseUrl: base, apiKey: 'k', model: 'm', dimensions: 4 }).embed(['x']).catch((e: unknown) => e);
    expect(wrongSize).toMatchObject({ code: 'model-bad-answer', message: expect.stringMatching(/3 numbers; the store expects 4/) });

    handler = () => undefined; // never answers
    const silent = await new OpenAiEmbedder({ baseUrl: base, apiKey: 'k', model: 'm', dimensions: 4, timeoutMs: 200, maxRetries: 1 }).embed(['x']).catch((e: unknown) => e);
    expect(silent).toMatchObject({ code: 'model-timeout', retryable: true });
    // The refused key and the wrong size are not retried; the silent server is, once (maxRetries 1).
    expect(requests).toHaveLength(1 + 1 + 2);
  });
});
