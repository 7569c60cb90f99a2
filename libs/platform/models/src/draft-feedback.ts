import type { EarlierDraft } from './drafting-model';
import { contentWords, replyParts, sentenceKey } from './reply-text';

/**
 * What the operator's verdicts on a ticket's earlier drafts ask of the next one, read by plain,
 * deterministic rules (the offline drafter follows them; a model reads the reasons themselves).
 */
export interface Feedback {
  /** -1: shorter ("too long"); 1: longer ("too short", "more detail"); 0: as before. The latest reason that says so wins. */
  length: -1 | 0 | 1;
  /** Steps less (negative: "too formal") or more ("too casual") formal than the brand voice. */
  formality: number;
  /** "Apologise", "say sorry", "show empathy". */
  apologise: boolean;
  /** Points to make ("mention the 30-day window", "it is about shipping"), as content words. */
  include: string[][];
  /** Points to leave out ("don't mention refunds", "remove the part about fees"). */
  exclude: string[][];
  /** Sentences of drafts rejected as off-topic ("wrong topic", "irrelevant"): their passages are not used again. */
  offTopic: Set<string>;
  /** Sentences of drafts rejected for a reason no rule reads: sentences not used before come first. */
  stale: Set<string>;
  /** Sentences the operator wrote into an edit (they go into the next draft as written), in order. */
  keep: string[];
  /** Sentences the operator deleted in an edit (they stay out). Keys of {@link sentenceKey}. */
  drop: Set<string>;
  /** The operator's own greeting and sign-off, where an edit changed them. */
  greeting: string | null;
  signOff: string | null;
}

const SHORTER = /\b(?:too long|too wordy|wordy|verbose|shorter|shorten|more concise|too much (?:text|detail|info(?:rmation)?)|less detail|keep it (?:short|brief)|to the point|rambl\w*)\b/;
const LONGER = /\b(?:too short|too brief|too terse|more details?|more detailed|more info(?:rmation)?|longer|elaborate|expand|not enough|incomplete|more thorough|more complete|lacks detail)\b/;
const LESS_FORMAL = /\b(?:too formal|too stiff|stiff|robotic|less formal|more casual|more relaxed|friendlier|more friendly|warmer|too cold|too corporate|more personal)\b/;
const MORE_FORMAL = /\b(?:too casual|too informal|too chatty|too familiar|more formal|more professional|unprofessional)\b/;
const APOLOGY = /\b(?:apologi[sz]e|apology|say (?:we(?:'re| are) )?sorry|empath\w*)\b/;
const OFF_TOPIC =
  /\b(?:wrong (?:topic|answer|info(?:rmation)?|article|passage|polic(?:y|ies)|question|document|subject)|off[- ]topic|irrelevant|not relevant|unrelated|(?:does|did)(?:n't| not) answer|not what (?:the customer|they|she|he) asked|(?:a |the )?(?:different|other) question|not about)\b/;
/** Where a point an operator names ends: punctuation, or a word joining the next instruction. */
const POINT_END = String.raw`(?=[.;!?\n]|\s(?:and|but|also|then|instead|because|since|as|or)\s|$)`;
const EXCLUDE = [
  new RegExp(String.raw`\b(?:don't|do not|never|no need to|shouldn't|should not|must not|mustn't)\s+(?:mention|include|say|talk about|bring up|refer to|promise|quote|cite)\s+(?:anything about\s+)?(.+?)${POINT_END}`, 'g'),
  new RegExp(String.raw`\b(?:remove|drop|leave out|take out|cut|delete|skip)\s+(?:the (?:part|bit|sentence|line)s? (?:about|on)\s+)?(.+?)${POINT_END}`, 'g'),
  new RegExp(String.raw`\b(?:isn't|wasn't|aren't|weren't|not) about\s+(.+?)${POINT_END}`, 'g'),
];
const INCLUDE = new RegExp(
  String.raw`\b(?:mention|include|add|explain|say|needs?|missing|forgot(?: to mention)?|what about|tell (?:them|the customer|her|him)(?: about| that)?|talk about|cover|refer to|point (?:them |the customer )?to|focus on|about)\s+(.+?)${POINT_END}`,
  'g',
);
/** Words of an instruction that name no point of the answer. */
const GENERIC = new Set(['mention', 'customer', 'point', 'thing', 'part', 'bit', 'info', 'information', 'detail', 'also', 'more', 'fact', 'they', 'she', 'he', 'sentence', 'line', 'answer', 'question', 'reply', 'draft', 'instead', 'here', 'too', 'should', 'must', 'need', 'any', 'anything', 'something', 'ask', 'asked', 'asking', 'what', 'wrote', 'written']);

const pointWords = (phrase: string): string[] => [...new Set(contentWords(phrase).filter((w) => !GENERIC.has(w)))];

/** Whether a sentence (its content words) makes the point: at least half of the point's words, one at least. */
export function makesPoint(words: ReadonlySet<string>, point: readonly string[]): boolean {
  const hits = point.filter((w) => words.has(w)).length;
  return point.length > 0 && hits >= Math.max(1, Math.ceil(point.length / 2));
}

/** Reads the earlier drafts' reasons and edits, oldest first (a later reason overrides an earlier one on length). */
export function readFeedback(earlier: readonly EarlierDraft[]): Feedback {
  const f: Feedback = { length: 0, formality: 0, apologise: false, include: [], exclude: [], offTopic: new Set(), stale: new Set(), keep: [], drop: new Set(), greeting: null, signOff: null };
  for (const d of [...earlier].sort((x, y) => x.attempt - y.attempt)) {
    const drafted = d.text ? replyParts(d.text) : null;
    if (d.rejectionReason) {
      const said = d.rejectionReason.toLowerCase().replace(/[’‘]/g, "'");
      let rest = said;
      let points = 0;
      for (const rule of EXCLUDE)
        rest = rest.replace(rule, (_, phrase: string) => {
          const point = pointWords(phrase);
          if (point.length) f.exclude.push(point);
          points++;
          return ' ';
        });
      for (const m of rest.matchAll(INCLUDE)) {
        const point = pointWords(m[1]!);
        if (point.length) f.include.push(point);
        points++;
      }
      const longer = LONGER.test(said);
      const shorter = !longer && SHORTER.test(said);
      if (longer) f.length = 1;
      else if (shorter) f.length = -1;
      const lessFormal = LESS_FORMAL.test(said);
      const moreFormal = !lessFormal && MORE_FORMAL.test(said);
      f.formality += lessFormal ? -1 : moreFormal ? 1 : 0;
      const apologise = APOLOGY.test(said);
      f.apologise ||= apologise;
      const offTopic = OFF_TOPIC.test(said);
      const understood = points > 0 || longer || shorter || lessFormal || moreFormal || apologise || offTopic;
      // A reason no rule reads still says the draft was not right: say something else where there is something else to say.
      const into = offTopic ? f.offTopic : understood || d.editedText ? null : f.stale;
      if (into && drafted) for (const s of drafted.sentences) into.add(sentenceKey(s));
    }
    if (d.editedText) {
      const edited = replyParts(d.editedText);
      const before = new Set((drafted?.sentences ?? []).map(sentenceKey));
      const after = new Set(edited.sentences.map(sentenceKey));
      for (const key of before)
        if (!after.has(key)) {
          f.drop.add(key);
          f.keep = f.keep.filter((k) => sentenceKey(k) !== key);
        }
      for (const s of edited.sentences) {
        const key = sentenceKey(s);
        if (!key || before.has(key)) continue;
        f.drop.delete(key);
        if (!f.keep.some((k) => sentenceKey(k) === key)) f.keep.push(s);
      }
      if (edited.greeting && edited.greeting !== drafted?.greeting) f.greeting = edited.greeting;
      if (edited.signOff && edited.signOff !== drafted?.signOff) f.signOff = edited.signOff;
    }
  }
  f.formality = Math.max(-2, Math.min(2, f.formality));
  return f;
}
