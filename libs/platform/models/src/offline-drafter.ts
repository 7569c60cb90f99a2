import { DraftingModel, DraftPrompt, DraftResult } from './drafting-model';

const WORD = /[\p{L}\p{N}]+/gu;
/** Words too common to say what a question is about. */
const STOP = new Set(
  'a an and are as at be but by can do does for from have how i if in is it me my no not of on or our please so that the their there this to was we what when where which who why will with you your'.split(' '),
);

const words = (s: string): string[] => (s.toLowerCase().match(WORD) ?? []).filter((w) => !STOP.has(w) && (w.length > 1 || /\d/.test(w)));

/**
 * The offline drafter (the default: no network, no model): extractive and deterministic. It takes
 * the sentences of the given passages that share the most words with the ticket (at most three,
 * in passage order), cites each passage it quotes as [n], and frames them with a greeting by name
 * and a closing in the company's name. Without a matching sentence it says an agent will follow
 * up. It sees only the prompt it is given, like a real model.
 */
export class OfflineDrafter extends DraftingModel {
  readonly model = 'offline-extractive-1';

  draft(p: DraftPrompt): Promise<DraftResult> {
    const question = new Set(words(`${p.ticket.subject ?? ''} ${p.ticket.body}`));
    const scored: { passage: number; order: number; sentence: string; score: number }[] = [];
    p.passages.forEach((passage, i) => {
      const sentences = passage.text.match(/[^.!?\n]+[.!?]?/g) ?? [];
      sentences.forEach((raw, order) => {
        const sentence = raw.trim();
        if (sentence.length < 8) return;
        const score = new Set(words(sentence).filter((w) => question.has(w))).size;
        if (score > 0) scored.push({ passage: i, order, sentence, score });
      });
    });
    const best = scored
      .sort((x, y) => y.score - x.score || x.passage - y.passage || x.order - y.order)
      .slice(0, 3)
      .sort((x, y) => x.passage - y.passage || x.order - y.order);
    const greeting = `Hello${p.ticket.customerName ? ` ${p.ticket.customerName}` : ''},`;
    const body = best.length
      ? `Thank you for reaching out. ${best.map((b) => `${b.sentence.replace(/[.!?]?$/, '.')} [${b.passage + 1}]`).join(' ')}`
      : 'Thank you for reaching out. A member of our team will look into your question and get back to you shortly.';
    const text = `${greeting}\n\n${body}\n\nKind regards,\n${p.companyName} Support`;
    const citations = [...new Set(best.map((b) => p.passages[b.passage]!.id))];
    // No model ran and no provider bills for this draft: no tokens (quota meters none).
    return Promise.resolve({ text, citations, model: this.model, usage: { promptTokens: 0, completionTokens: 0 } });
  }
}
