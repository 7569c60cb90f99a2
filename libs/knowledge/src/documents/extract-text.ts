import { convert } from 'html-to-text';
import { marked } from 'marked';
import { extractText as extractPdfText, getDocumentProxy } from 'unpdf';
import { DOCUMENT_TYPE_ALIASES, DOCUMENT_TYPES, type DocumentType } from '@hotdash/contracts';
import { ProblemException } from '@hotdash/platform-http';


/** A Content-Type header's media type, if the knowledge base takes it; 415 otherwise. */
export function documentTypeOf(contentType: string | undefined): DocumentType {
  const media = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const type = (DOCUMENT_TYPES as readonly string[]).includes(media) ? (media as DocumentType) : DOCUMENT_TYPE_ALIASES[media];
  if (!type) {
    throw new ProblemException(415, 'unsupported-media-type', 'Unsupported document type', `Send ${DOCUMENT_TYPES.join(', ')} (Content-Type); got ${media || 'none'}.`);
  }
  return type;
}

export interface ExtractedText {
  text: string;
  /** Pages of a PDF. */
  pages?: number;
}

const unreadable = (detail: string) => new ProblemException(422, 'unreadable-document', 'Unreadable document', detail);

/**
 * The plain text of a document, for chunking: Markdown and HTML rendered to text (headings,
 * paragraphs and list items on lines of their own, no markup, no link targets, no scripts or
 * styles), PDF text layers page after page (unpdf, pdf.js). Control characters go; paragraph
 * breaks stay. Invalid UTF-8, a PDF that cannot be opened and a document without any text are 422.
 */
export async function extractText(type: DocumentType, bytes: Uint8Array): Promise<ExtractedText> {
  let out: ExtractedText;
  if (type === 'application/pdf') out = await pdfText(bytes);
  else {
    let source: string;
    try {
      source = new TextDecoder('utf-8', { fatal: true }).decode(bytes).replace(/^\uFEFF/, '');
    } catch {
      throw unreadable('The document is not valid UTF-8 text; save it as UTF-8 and upload it again.');
    }
    if (type === 'text/plain') out = { text: source };
    else out = { text: htmlText(type === 'text/markdown' ? (marked.parse(source, { async: false, gfm: true }) as string) : source) };
  }
  const text = clean(out.text);
  if (text === '') throw unreadable(type === 'application/pdf' ? 'The PDF has no text layer (a scan?); upload a PDF with text, or the text itself.' : 'The document has no text.');
  return { ...out, text };
}

function htmlText(html: string): string {
  return convert(html, {
    wordwrap: false,
    preserveNewlines: false,
    selectors: [
      { selector: 'a', options: { ignoreHref: true } },
      { selector: 'img', format: 'skip' },
      { selector: 'script', format: 'skip' },
      { selector: 'style', format: 'skip' },
      { selector: 'nav', format: 'skip' },
      ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((h) => ({ selector: h, options: { uppercase: false } })),
      { selector: 'table', format: 'dataTable', options: { uppercaseHeaderCells: false } },
      { selector: 'ul', options: { itemPrefix: '- ' } },
    ],
  });
}

async function pdfText(bytes: Uint8Array): Promise<ExtractedText> {
  try {
    // pdf.js takes ownership of the buffer it is given: a copy, so the caller's stays usable.
    const pdf = await getDocumentProxy(new Uint8Array(bytes));
    const { totalPages, text } = await extractPdfText(pdf, { mergePages: false });
    return { text: (text as string[]).join('\n\n'), pages: totalPages };
  } catch (err) {
    throw unreadable(`The PDF could not be read (${(err as Error).message.slice(0, 200)}); check that it opens, or upload its text.`);
  }
}

/** Newlines normalised, control characters and trailing spaces gone, at most one blank line in a row. */
function clean(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '')
    .replace(/[ \t\u00a0]+/g, ' ')
    .replace(/ *\n */g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
