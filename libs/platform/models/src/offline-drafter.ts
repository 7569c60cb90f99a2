import { makesPoint, readFeedback } from './draft-feedback';
import { DraftingModel, DraftPrompt, DraftResult } from './drafting-model';
import { contentWords, proseSentences, replyParts, sentenceKey, VALEDICTION } from './reply-text';

/** How a reply sounds at each level of formality: -1 casual, 0 neutral, 1 formal. */
interface Tone {
  greeting: (name: string | null) => string;
  opener: string;
  apology: string;
  /** Said when no passage answers. */
  followUp: string;
  /** Added to a longer reply. */
  closing: string;
  valediction: string;
}

const TONES: Record<-1 | 0 | 1, Tone> = {
  [-1]: {
    greeting: (name) => (name ? `Hi ${name},` : 'Hi there,'),
    opener: 'Thanks for getting in touch.',
    apology: 'Sorry for the trouble.',
    followUp: 'Someone from our team will look into this and get back to you soon.',
    closing: "If anything's unclear, just reply here and we'll help.",
    valediction: 'Best,',
  },
  0: {
    greeting: (name) => (name ? `Hello ${name},` : 'Hello,'),
    opener: 'Thank you for reaching out.',
    apology: "We're sorry for the inconvenience.",
    followUp: 'A member of our team will look into your question and get back to you shortly.',
    closing: 'If anything is unclear, just reply to this message and we will be happy to help.',
    valediction: 'Kind regards,',
  },
  1: {
    greeting: (name) => (name ? `Dear ${name},` : 'Dear customer,'),
    opener: 'Thank you for contacting us.',
    apology: 'We apologise for the inconvenience.',
    followUp: 'A member of our team will look into your question and reply to you shortly.',
    closing: 'Should you have any further questions, please reply to this message.',
    valediction: 'Yours sincerely,',
  },
};
/** The drafter's own framing sentences: not part of an answer when an earlier draft's length is measured. */
const FRAMING = new Set(Object.values(TONES).flatMap((t) => [t.opener, t.apology, t.followUp, t.closing].flatMap((s) => s.split(/(?<=\.)\s+/)).map(sentenceKey)));

/** Sentences of an answer: three by default; a shorter one one less than before (one at least), a longer one two more. */
const ANSWER_SENTENCES = 3;

/** The brand voice's formality: "formal", "professional" → 1; "casual", "informal", "relaxed" → -1; otherwise 0. */
function formalityOf(voice: string): number {
  const v = voice.toLowerCase();
  if (/\b(?:not|never|less)\s+(?:too\s+|very\s+|overly\s+)?(?:formal|stiff)\b|\b(?:casual|informal|relaxed|laid[- ]back|playful|chatty|conversational)\b/.test(v)) return -1;
  if (/\b(?:formal|professional|polite|courteous|respectful)\b/.test(v)) return 1;
  return 0;
}

const capitalised = (s: string) => `${s.charAt(0).toUpperCase()}${s.slice(1)}`;

/**
 * The sign-off the profile asks for, if it does: the brand voice or a policy saying
 * `sign off with "Cheers, the Acme crew"` (quoted), or a policy that is only `Sign as the Acme team.`
 */
function brandSignOff(p: DraftPrompt, tone: Tone): string | null {
  for (const rule of [p.brandVoice, ...p.policies]) {
    const quoted = /\bsign(?:[- ]?off|s|ed)?\b[^"“'‘\n]{0,24}?(?:"([^"\n]{2,80})"|“([^”\n]{2,80})”|'([^'\n]{2,80})'|‘([^’\n]{2,80})’)/i.exec(rule);
    const said = quoted ? (quoted[1] ?? quoted[2] ?? quoted[3] ?? quoted[4])! : /^\s*sign (?:off )?(?:as|with)\s+(.{2,60}?)\.?\s*$/i.exec(rule)?.[1];
    if (!said) continue;
    const text = said.trim();
    const split = /^(.+?)([,!])\s+(.+)$/.exec(text);
    if (split && VALEDICTION.test(split[1]!)) return `${split[1]}${split[2]}\n${capitalised(split[3]!)}`;
    if (VALEDICTION.test(text)) return `${/[,!]$/.test(text) ? text : `${text.replace(/\.$/, '')},`}\n${p.companyName} Support`;
    return `${tone.valediction}\n${capitalised(text)}`;
  }
  return null;
}

interface Candidate {
  passage: number;
  order: number;
  sentence: string;
  key: string;
  /** Words it shares with the ticket. */
  score: number;
  /** It makes a point the operator asked for. */
  asked: boolean;
  /** Not in a draft rejected for a reason no rule reads. */
  fresh: boolean;
}

/**
 * The offline drafter (the default: no network, no model): extractive and deterministic. It writes
 * the reply as a person would: a greeting with the customer's name, the sentences of the given
 * passages that share the most words with the ticket (three at most, in passage order, one
 * paragraph per passage; the passages' headings, list labels, tables and markup are never copied
 * in), and the brand voice's sign-off when the profile gives one (else one in the company's name).
 * The reply carries no citation markers: the passages it quotes are its `citations`, for the
 * operator. Without a matching sentence it says an agent will follow up. The brand voice sets how
 * formal it sounds.
 *
 * A regeneration follows what the operator said of the earlier drafts (readFeedback): shorter or
 * longer, less or more formal, an apology, the points asked for in (from any passage given) and
 * those asked to be left out, other passages after a draft rejected as off-topic, the operator's
 * own sentences from an edit kept and the deleted ones left out; and it never repeats an earlier
 * draft word for word. It sees only the prompt it is given, like a real model.
 */
export class OfflineDrafter extends DraftingModel {
  readonly model = 'offline-extractive-1';

  draft(p: DraftPrompt): Promise<DraftResult> {
    const earlier = p.earlierDrafts ?? [];
    const f = readFeedback(earlier);
    const tone = TONES[Math.max(-1, Math.min(1, formalityOf(p.brandVoice) + f.formality)) as -1 | 0 | 1];
    const question = new Set(contentWords(`${p.ticket.subject ?? ''} ${p.ticket.body}`));

    const offTopicPassages = new Set<number>();
    const usable: Candidate[][] = p.passages.map((passage, i) => {
      const sentences = proseSentences(passage.text).map((sentence, order) => ({ sentence, order, key: sentenceKey(sentence), words: new Set(contentWords(sentence)) }));
      if (sentences.some((s) => f.offTopic.has(s.key))) offTopicPassages.add(i);
      return sentences
        .filter((s) => !f.drop.has(s.key) && !f.exclude.some((point) => makesPoint(s.words, point)))
        .map((s) => ({ passage: i, order: s.order, sentence: s.sentence, key: s.key, score: [...s.words].filter((w) => question.has(w)).length, asked: f.include.some((point) => makesPoint(s.words, point)), fresh: !f.stale.has(s.key) }));
    });
    const candidates = usable.filter((_, i) => !offTopicPassages.has(i)).flat();
    const ranked = candidates
      .filter((c) => c.asked || c.score > 0)
      .sort((x, y) => Number(y.asked) - Number(x.asked) || Number(y.fresh) - Number(x.fresh) || y.score - x.score || x.passage - y.passage || x.order - y.order);

    const lastText = [...earlier].sort((x, y) => y.attempt - x.attempt).find((d) => d.text)?.text;
    const before = lastText ? replyAnswerLength(lastText) : ANSWER_SENTENCES;
    let limit = f.length < 0 ? Math.max(1, Math.min(before, ANSWER_SENTENCES) - 1) : f.length > 0 ? Math.max(before, ANSWER_SENTENCES) + 2 : ANSWER_SENTENCES;
    limit = Math.max(limit, ranked.filter((c) => c.asked).length);
    const chosen = ranked.slice(0, limit);
    if (f.length > 0) {
      // Longer: the sentences that follow the chosen ones in their passages, for context.
      for (const c of [...chosen]) {
        if (chosen.length >= limit) break;
        const next = usable[c.passage]!.find((x) => x.order === c.order + 1);
        if (next && !offTopicPassages.has(c.passage) && !chosen.includes(next)) chosen.push(next);
      }
    }
    chosen.sort((x, y) => x.passage - y.passage || x.order - y.order);

    const paragraphs: string[] = [];
    if (f.keep.length) paragraphs.push(f.keep.join(' '));
    for (const c of chosen) {
      const prev = chosen[chosen.indexOf(c) - 1];
      if (prev && prev.passage === c.passage) paragraphs[paragraphs.length - 1] += ` ${c.sentence}`;
      else paragraphs.push(c.sentence);
    }
    if (!paragraphs.length) paragraphs.push(tone.followUp);

    const name = p.ticket.customerName?.trim() || null;
    const greeting = f.greeting ?? tone.greeting(name);
    const signOff = f.signOff ?? brandSignOff(p, tone) ?? `${tone.valediction}\n${p.companyName} Support`;
    const withOpener = f.length >= 0 && !f.drop.has(sentenceKey(tone.opener));
    const compose = (opener: boolean, closing: boolean): string => {
      const lead = [opener ? tone.opener : '', f.apologise ? tone.apology : ''].filter(Boolean);
      const body = [...paragraphs];
      body[0] = [...lead, body[0]].join(' ');
      if (closing) body.push(tone.closing);
      return [greeting, ...body, signOff].join('\n\n');
    };
    // Never the same draft again: a regeneration whose rules changed nothing varies its framing.
    const seen = new Set(earlier.flatMap((d) => (d.text ? [sentenceKey(d.text)] : [])));
    const variants = [compose(withOpener, f.length > 0), compose(withOpener, true), compose(!withOpener, f.length > 0), compose(!withOpener, true)];
    const text = variants.find((v) => !seen.has(sentenceKey(v))) ?? variants[0]!;

    const citations = [...new Set(chosen.map((c) => p.passages[c.passage]!.id))];
    // No model ran and no provider bills for this draft: no tokens (quota meters none).
    return Promise.resolve({ text, citations, model: this.model, usage: { promptTokens: 0, completionTokens: 0 } });
  }
}

/** How many sentences of a reply answer the question (its greeting, sign-off and the drafter's own framing left out). */
function replyAnswerLength(text: string): number {
  return Math.max(1, replyParts(text).sentences.filter((s) => !FRAMING.has(sentenceKey(s))).length);
}
