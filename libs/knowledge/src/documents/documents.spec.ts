// Reading documents into text (plain, Markdown, HTML, PDF through unpdf/pdf.js) and cutting the text
// into passages: what each type gives, what is refused with which code, and how chunks are cut.
import { ProblemException } from '@hotdash/platform-http';
import { makePdf } from '../testing/pdf';
import { chunkText } from './chunking';
import { documentTypeOf, extractText } from './extract-text';

const bytes = (s: string) => new TextEncoder().encode(s);

async function problem(p: Promise<unknown>): Promise<{ status: number; code: string; detail?: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProblemException);
  const e = err as ProblemException;
  return { status: e.status, code: e.code, detail: e.detail };
}

describe('documentTypeOf', () => {
  it('takes the four types (and their aliases), with or without parameters', () => {
    expect(documentTypeOf('text/plain; charset=utf-8')).toBe('text/plain');
    expect(documentTypeOf('Text/Markdown')).toBe('text/markdown');
    expect(documentTypeOf('text/x-markdown')).toBe('text/markdown');
    expect(documentTypeOf('text/html')).toBe('text/html');
    expect(documentTypeOf('application/pdf')).toBe('application/pdf');
  });

  it('refuses anything else with 415 unsupported-media-type, naming what it takes', () => {
    for (const t of ['application/msword', 'image/png', '', undefined]) {
      let err: unknown;
      try {
        documentTypeOf(t);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ProblemException);
      expect(err).toMatchObject({ status: 415, code: 'unsupported-media-type', detail: expect.stringMatching(/text\/plain, text\/markdown, text\/html, application\/pdf/) });
    }
  });
});

describe('extractText', () => {
  it('keeps plain text, minus a BOM, control characters and extra blank lines', async () => {
    const { text } = await extractText('text/plain', bytes('\uFEFFRefunds\u0007 take   30 days.\r\n\r\n\r\n\r\nShipping is free.'));
    expect(text).toBe('Refunds take 30 days.\n\nShipping is free.');
  });

  it('renders Markdown to text: headings, lists, links and code without markup or targets', async () => {
    const md = '# Returns\n\nYou may **return** items within *30 days*. See [our policy](https://example.com/policy).\n\n- unopened\n- with receipt\n\n```\ncode sample\n```\n';
    const { text } = await extractText('text/markdown', bytes(md));
    expect(text).toContain('Returns');
    expect(text).toContain('You may return items within 30 days. See our policy.');
    expect(text).toMatch(/- unopened\n- with receipt/);
    expect(text).toContain('code sample');
    expect(text).not.toMatch(/[#*[\]]|https:\/\//);
  });

  it('renders HTML to text, without scripts, styles, images or link targets', async () => {
    const html = '<html><head><style>p{color:red}</style><script>alert("x")</script></head><body><nav>Menu</nav><h2>Warranty</h2><p>Two years on <a href="https://x.test">all devices</a>.</p><img src="a.png" alt="pic"><table><tr><th>Plan</th><th>Price</th></tr><tr><td>Basic</td><td>10</td></tr></table></body></html>';
    const { text } = await extractText('text/html', bytes(html));
    expect(text).toContain('Warranty');
    expect(text).toContain('Two years on all devices.');
    expect(text).toMatch(/Basic\s+10/);
    expect(text).not.toMatch(/alert|color:red|x\.test|Menu|pic/);
  });

  it('reads the text layer of a PDF, page after page', async () => {
    const pdf = makePdf([['Refund policy', 'Refunds are paid within 30 days.'], ['Shipping', 'Orders ship within 2 business days.']]);
    const { text, pages } = await extractText('application/pdf', pdf);
    expect(pages).toBe(2);
    expect(text).toMatch(/Refund policy[\s\S]*Refunds are paid within 30 days\.[\s\S]*Orders ship within 2 business days\./);
  });

  it('refuses invalid UTF-8, a broken PDF and a document without text with 422 unreadable-document', async () => {
    expect(await problem(extractText('text/plain', new Uint8Array([0x52, 0xff, 0xfe, 0x41])))).toMatchObject({ status: 422, code: 'unreadable-document', detail: expect.stringMatching(/UTF-8/) });
    expect(await problem(extractText('application/pdf', bytes('%PDF-1.4 this is not really a pdf')))).toMatchObject({ status: 422, code: 'unreadable-document', detail: expect.stringMatching(/PDF could not be read/) });
    expect(await problem(extractText('application/pdf', makePdf([[]])))).toMatchObject({ status: 422, code: 'unreadable-document', detail: expect.stringMatching(/no text layer/) });
    expect(await problem(extractText('text/html', bytes('<p> </p><script>x()</script>')))).toMatchObject({ status: 422, code: 'unreadable-document', detail: 'The document has no text.' });
  });
});

describe('chunkText', () => {
  const paragraph = (n: number, words = 30) => Array.from({ length: words }, (_, i) => `word${n}x${i}`).join(' ') + '.';

  it('keeps a short text whole, and paragraphs together while they fit', () => {
    expect(chunkText('One paragraph.')).toEqual(['One paragraph.']);
    const text = [paragraph(1, 20), paragraph(2, 20), paragraph(3, 20)].join('\n\n');
    const chunks = chunkText(text, { maxChars: 450, overlapChars: 0 });
    expect(chunks.length).toBe(2);
    expect(chunks[0]).toBe(`${paragraph(1, 20)}\n\n${paragraph(2, 20)}`);
    expect(chunks[1]).toBe(paragraph(3, 20));
  });

  it('never makes a chunk longer than maxChars, and loses no word', () => {
    const text = Array.from({ length: 40 }, (_, i) => paragraph(i, 5 + (i % 7) * 25)).join('\n\n') + '\n\n' + 'x'.repeat(3_000);
    const chunks = chunkText(text, { maxChars: 500, overlapChars: 80 });
    expect(chunks.every((c) => c.length <= 500)).toBe(true);
    const words = new Set(chunks.flatMap((c) => c.split(/\s+/)));
    for (const w of text.split(/\s+/).filter((w) => !w.startsWith('xxx'))) expect(words.has(w)).toBe(true);
    expect(chunks.join('').replace(/[^x]/g, '').length).toBeGreaterThanOrEqual(3_000);
  });

  it('repeats the end of a chunk at the start of the next, from a word on', () => {
    const text = Array.from({ length: 10 }, (_, i) => paragraph(i, 15)).join('\n\n');
    const chunks = chunkText(text, { maxChars: 400, overlapChars: 100 });
    expect(chunks.length).toBeGreaterThan(2);
    for (let i = 1; i < chunks.length; i++) {
      const firstWord = chunks[i]!.split(/\s+/)[0]!;
      expect(chunks[i - 1]).toContain(firstWord);
    }
    expect(chunkText(text, { maxChars: 400, overlapChars: 100 })).toEqual(chunks);
  });
});
