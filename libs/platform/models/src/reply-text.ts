// Text as a customer reads it: the prose of a knowledge-base passage (its headings, list labels,
// tables and markup left out), the parts of a reply (greeting, body, sign-off), and a model's reply
// rid of the citation markers that belong to the operator's view.
import type { PromptPassage } from './drafting-model';

const WORD = /[\p{L}\p{N}]+/gu;
/** Words too common to say what a question (or an operator's point) is about. */
const STOP = new Set(
  'a an and are as at be but by can do does for from have how i if in is it its me my no not of on or our please so that the their them there this to was we what when where which who why will with you your'.split(' '),
);

/** A word's plain form: lower case, a plural's s dropped ("days" and "day" are one word). */
function stem(w: string): string {
  if (w.length > 4 && w.endsWith('ies')) return `${w.slice(0, -3)}y`;
  if (w.length > 3 && w.endsWith('s') && !w.endsWith('ss') && !w.endsWith('us')) return w.slice(0, -1);
  return w;
}

/** The words of a text that say what it is about (stop words left out, plurals folded). */
export function contentWords(s: string): string[] {
  return (s.toLowerCase().match(WORD) ?? []).filter((w) => !STOP.has(w) && (w.length > 1 || /\d/.test(w))).map(stem);
}

/** A sentence as compared with another: its words only, so spacing, case and punctuation do not matter. */
export function sentenceKey(s: string): string {
  return (s.toLowerCase().match(WORD) ?? []).join(' ');
}

const HEADING = /^\s{0,3}#{1,6}(?:\s|$)/;
const RULE = /^\s*(?:[-*_=]\s*){3,}$/;
const FENCE = /^\s*(?:```|~~~)/;
const LIST_ITEM = /^\s*(?:[-*+•‣◦▪]|\d{1,3}[.)])\s+/;
/** A table row: pipes, or columns aligned with runs of spaces or tabs (html-to-text's tables). */
const TABLE_ROW = /^\s*\|.*\|\s*$|\S(?: {3,}|\t)\S.*\S(?: {3,}|\t)\S/;
const ENDS_SENTENCE = /[.!?]["'”’)]*$/;
/** Ends as a line of running text does (a heading or a label ends with none of these). */
const ENDS_CLAUSE = /[.!?:;,)"'”’]$/;

/** Markdown's inline markup and footnote or citation markers, gone; whitespace folded. */
function plain(s: string): string {
  return s
    .replace(/!\[[^\]]*\]\([^)]*\)/g, '')
    .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
    .replace(/\s*\[\d{1,3}(?:\s*[,–-]\s*\d{1,3})*\]/g, '')
    .replace(/(\*\*|__)(.+?)\1/g, '$2')
    .replace(/(^|[\s(])[*_](?=\S)(.+?)(?<=\S)[*_](?=$|[\s).,;:!?])/g, '$1$2')
    .replace(/`([^`]+)`/g, '$1')
    .replace(/^\s*(?:>\s*)+/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

const wordCount = (s: string): number => (s.match(WORD) ?? []).length;

/** Splits running text into sentences (at . ! ? followed by a capital, a digit or an opening quote). */
export function splitSentences(text: string): string[] {
  return text
    .split(/(?<=[.!?]["'”’)]*)\s+(?=["'“‘(]?[\p{Lu}\p{N}])/u)
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * The sentences of a knowledge-base passage a reply may say, in order: running text split into
 * sentences; list items written as sentences (ending like one) as sentences of their own; no
 * headings (a `#` line, or a short line without an end of sentence on its own or before the text
 * it heads), no labels ending in ':', no tables, code or rules, no markup or `[n]` markers. A
 * passage starting in the middle of a sentence (the chunker repeats the end of the previous
 * chunk) loses that fragment.
 */
export function proseSentences(passage: string): string[] {
  const blocks: string[] = [];
  let para: string[] = [];
  const flush = () => {
    // A paragraph of one short line without an end of sentence is a heading or a label.
    if (para.length === 1 && !ENDS_CLAUSE.test(para[0]!) && wordCount(para[0]!) <= 12) para = [];
    if (para.length) blocks.push(para.join(' '));
    para = [];
  };
  let code = false;
  for (const raw of passage.split(/\r?\n/)) {
    if (FENCE.test(raw)) {
      flush();
      code = !code;
      continue;
    }
    if (code) continue;
    if (!raw.trim() || HEADING.test(raw) || RULE.test(raw) || TABLE_ROW.test(raw)) {
      flush();
      continue;
    }
    if (LIST_ITEM.test(raw)) {
      flush();
      // A list item written as a sentence (it ends like one) is one; a label ("Receipt", "Free returns") is not.
      const item = plain(raw.replace(LIST_ITEM, ''));
      if (ENDS_SENTENCE.test(item) && wordCount(item) >= 4) blocks.push(item);
      continue;
    }
    const line = plain(raw);
    if (!line) continue;
    const prev = para.at(-1);
    // A short line without an end of sentence, followed by one starting a new sentence, headed it.
    if (prev !== undefined && !ENDS_CLAUSE.test(prev) && wordCount(prev) <= 12 && /^["'“‘(]?[\p{Lu}\p{N}]/u.test(line)) para.pop();
    para.push(line);
  }
  flush();
  const out: string[] = [];
  blocks.forEach((block, b) => {
    splitSentences(block).forEach((s, i) => {
      // The chunk's overlap: the end of a sentence whose start is in the previous chunk.
      if (b === 0 && i === 0 && /^[\p{Ll}]/u.test(s)) return;
      if (s.endsWith(':') || wordCount(s) < 3) return;
      const sentence = `${s.charAt(0).toUpperCase()}${s.slice(1)}`;
      out.push(ENDS_SENTENCE.test(sentence) ? sentence : `${sentence.replace(/[,;:]$/, '')}.`);
    });
  });
  return out;
}

const GREETING = /^(?:hi|hello|hey|dear|greetings|good (?:morning|afternoon|evening))\b[^\n]{0,80}$/i;
/** How replies end before the name: "Kind regards,", "Best,", "Cheers!"… */
export const VALEDICTION = /^(?:kind regards|best regards|warm regards|warmest regards|regards|best wishes|best|all the best|cheers|thanks|thank you|many thanks|sincerely|yours sincerely|yours truly|take care|with thanks)[,.!]?$/i;

/** A reply cut into its greeting line, the sentences of its body, and its sign-off (valediction and signature), each when present. */
export interface ReplyParts {
  greeting: string | null;
  sentences: string[];
  signOff: string | null;
}

export function replyParts(text: string): ReplyParts {
  const paragraphs = text
    .trim()
    .split(/\n[ \t]*\n/)
    .map((p) => p.trim())
    .filter(Boolean);
  let greeting: string | null = null;
  let signOff: string | null = null;
  if (paragraphs.length > 1 && !paragraphs[0]!.includes('\n') && GREETING.test(paragraphs[0]!)) greeting = paragraphs.shift()!;
  const last = paragraphs.at(-1);
  if (last !== undefined && VALEDICTION.test(last.split('\n')[0]!.trim())) signOff = paragraphs.pop()!;
  else if (last !== undefined && last.includes('\n')) {
    // "…the answer.\nKind regards,\nAcme Support" with no blank line before the sign-off.
    const lines = last.split('\n');
    const at = lines.findIndex((l) => VALEDICTION.test(l.trim()));
    if (at > 0) {
      signOff = lines.slice(at).join('\n');
      paragraphs[paragraphs.length - 1] = lines.slice(0, at).join('\n');
    }
  }
  return { greeting, sentences: paragraphs.flatMap((p) => splitSentences(p.replace(/\s*\n\s*/g, ' '))), signOff };
}

/** A citation marker as models write them: [2], [1, 3], [1-2]. */
const MARKER = /[ \t]*\[(\d{1,3}(?:\s*[,–-]\s*\d{1,3})*)\]/g;
/** The operator's line a model is asked to end with: "Sources: 1, 3" (or none). */
const SOURCES_LINE = /^[ \t]*[*_]*(?:sources?|citations?)[*_]*[ \t]*:[ \t]*(.*)$/gim;
const SOURCES_LIST = /^(?:none|n\/a|-|—)?\.?$|^\[?\d{1,3}\]?(?:\s*(?:,|and|&)?\s*\[?\d{1,3}\]?)*\.?$/i;

/**
 * A model's reply as it goes to the customer, and the passages it drew on: the "Sources: …" line
 * (asked for in the prompt) and any `[n]` marker still in the text are taken out and turned into
 * the ids of the passages they number (1-based, as in the prompt), in order, once each; numbers
 * naming no passage are dropped. Spacing left by a marker before punctuation is tidied.
 */
export function takeCitations(text: string, passages: readonly PromptPassage[]): { text: string; citations: string[] } {
  const ids: string[] = [];
  const cite = (numbers: string) => {
    for (const m of numbers.matchAll(/\d{1,3}/g)) {
      const p = passages[Number(m[0]) - 1];
      if (p && !ids.includes(p.id)) ids.push(p.id);
    }
  };
  const body = text
    .replace(SOURCES_LINE, (line, list: string) => {
      if (!SOURCES_LIST.test(list.trim())) return line;
      cite(list);
      return '';
    })
    .replace(MARKER, (_, numbers: string) => {
      cite(numbers);
      return '';
    });
  const tidy = body
    .replace(/[ \t]+([.,;:!?])/g, '$1')
    .replace(/[ \t]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  return { text: tidy, citations: ids };
}
