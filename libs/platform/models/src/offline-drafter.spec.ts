// The offline drafter writes what a person would send: a greeting by name, the answer in plain
// sentences from the tenant's passages (never their headings, list labels, tables or markup, never
// a [n] marker: the passages it used are its citations, for the operator), and the sign-off the
// profile asks for. A regeneration follows the operator's reasons and edits by fixed rules, and
// never returns an earlier draft again.
import { DraftPrompt, EarlierDraft, OfflineDrafter, takeCitations } from './index';
import { proseSentences, replyParts } from './reply-text';

const HANDBOOK = [
  '# Returns and refunds',
  '',
  'Returns',
  'You can return unused items within 30 days [1]. Refunds reach your card within **5 business days** after the return arrives.',
  '',
  '## What you need',
  '- Receipt',
  '- The original packaging',
  '- Items must be unused and complete.',
  '',
  '| Item  | Days |',
  '|-------|------|',
  '| Shoes | 30   |',
].join('\n');

const prompt = (over: Partial<DraftPrompt> = {}): DraftPrompt => ({
  companyName: 'Acme',
  brandVoice: 'warm and brief',
  policies: [],
  passages: [
    { id: 'c-ret', title: 'Returns and refunds', text: HANDBOOK },
    { id: 'c-ship', title: 'Shipping', text: 'Shipping\n\nOrders ship within 2 business days. Express shipping costs 9 EUR. Refunds of shipping costs are not possible.' },
    { id: 'c-war', title: 'Warranty', text: 'Warranty\n\nEvery device has a two-year warranty. A warranty claim needs the order number.' },
  ],
  ticket: { customerName: 'Dana Whitfield', subject: 'Refund', body: 'How long until my refund reaches my card after I return the item?' },
  ...over,
});

const drafter = new OfflineDrafter();
const again = async (reason: string | null, editedText: string | null = null, over: Partial<DraftPrompt> = {}) => {
  const first = await drafter.draft(prompt(over));
  const earlier: EarlierDraft[] = [{ attempt: 1, text: first.text, rejectionReason: reason, editedText }];
  return { first, next: await drafter.draft(prompt({ ...over, earlierDrafts: earlier })) };
};
/** The sentences between the greeting and the sign-off. */
const body = (text: string) => replyParts(text).sentences;

describe('OfflineDrafter: a reply as a person writes it', () => {
  it('greets by name, answers in plain sentences without headings, labels, tables or markers, and signs off in the company’s name', async () => {
    const d = await drafter.draft(prompt());
    expect(d.text).toBe(
      [
        'Hello Dana Whitfield,',
        'Thank you for reaching out. You can return unused items within 30 days. Refunds reach your card within 5 business days after the return arrives. Items must be unused and complete.',
        'Kind regards,\nAcme Support',
      ].join('\n\n'),
    );
    expect(d.text).not.toMatch(/\[\d+\]|#|\*\*|\||Returns and refunds\.|What you need|Receipt/);
    // The passages it drew on are the operator's to see, in the citations.
    expect(d.citations).toEqual(['c-ret']);
    expect(d).toMatchObject({ model: 'offline-extractive-1', usage: { promptTokens: 0, completionTokens: 0 } });
    expect(await drafter.draft(prompt())).toEqual(d);
  });

  it('says an agent will follow up when no passage answers, and cites nothing', async () => {
    const d = await drafter.draft(prompt({ ticket: { customerName: null, subject: null, body: 'Do you have a store in Berlin?' } }));
    expect(d.text).toBe('Hello,\n\nThank you for reaching out. A member of our team will look into your question and get back to you shortly.\n\nKind regards,\nAcme Support');
    expect(d.citations).toEqual([]);
  });

  it('signs off as the brand voice or a policy says, and sounds as formal as the voice', async () => {
    const cheers = await drafter.draft(prompt({ brandVoice: 'Casual and upbeat; sign off with "Cheers, the Acme crew"' }));
    expect(cheers.text).toMatch(/^Hi Dana Whitfield,\n\nThanks for getting in touch\./);
    expect(cheers.text).toMatch(/\n\nCheers,\nThe Acme crew$/);
    const policy = await drafter.draft(prompt({ brandVoice: 'Formal', policies: ['Never promise dates.', 'Sign as the Acme returns desk.'] }));
    expect(policy.text).toMatch(/^Dear Dana Whitfield,\n\nThank you for contacting us\./);
    expect(policy.text).toMatch(/\n\nYours sincerely,\nThe Acme returns desk$/);
  });

  it('reads only the prose of a passage', () => {
    expect(proseSentences(HANDBOOK)).toEqual([
      'You can return unused items within 30 days.',
      'Refunds reach your card within 5 business days after the return arrives.',
      'Items must be unused and complete.',
    ]);
    // A chunk that starts inside a sentence (the chunker's overlap) loses that fragment; a heading on the line above a paragraph is no sentence.
    expect(proseSentences('within five days of the request.\n\nOpening hours\nWe answer calls from 9 to 5 on weekdays.')).toEqual(['We answer calls from 9 to 5 on weekdays.']);
  });
});

describe('OfflineDrafter: a regeneration follows the operator', () => {
  it('"too long": fewer sentences, no pleasantries, a shorter reply', async () => {
    const { first, next } = await again('Too long, keep it short');
    expect(next.text.length).toBeLessThan(first.text.length);
    expect(body(next.text).length).toBeLessThan(body(first.text).length);
    expect(next.text).not.toContain('Thank you for reaching out');
    expect(next.text).toMatch(/^Hello Dana Whitfield,/);
  });

  it('"too short": more of the passages and an offer to help further', async () => {
    const { first, next } = await again('Too short, needs more detail');
    expect(body(next.text).length).toBeGreaterThan(body(first.text).length);
    expect(next.text).toContain('Items must be unused and complete.');
    expect(next.text).toContain('just reply to this message');
  });

  it('"wrong topic": other passages than the rejected draft’s, or an honest follow-up', async () => {
    const { first, next } = await again('Wrong topic: the customer asks about the warranty');
    expect(first.citations).not.toContain('c-war');
    expect(next.citations).toContain('c-war');
    expect(next.citations).not.toContain('c-ret');
    expect(next.text).toContain('Every device has a two-year warranty.');
    expect(next.text).not.toContain('Refunds reach your card');
    // Nothing else in the passages: the reply says an agent follows up rather than repeat the rejected answer.
    const { next: none } = await again('This answers the wrong question', null, { passages: prompt().passages.slice(0, 1) });
    expect(none.citations).toEqual([]);
    expect(none.text).toContain('A member of our team will look into your question');
  });

  it('"mention X" brings in the point from any passage given; "don’t mention Y" leaves it out', async () => {
    const { first, next } = await again('Please mention the express shipping cost');
    expect(first.text).not.toContain('Express shipping costs 9 EUR.');
    expect(next.text).toContain('Express shipping costs 9 EUR.');
    expect(next.citations).toContain('c-ship');
    const { next: without } = await again("Don't mention shipping costs");
    expect(without.text).not.toMatch(/shipping/i);
    expect(without.citations).toEqual(['c-ret']);
  });

  it('"too formal" makes it less formal; "apologise" adds an apology', async () => {
    const { next } = await again('Too formal and stiff');
    expect(next.text).toMatch(/^Hi Dana Whitfield,\n\nThanks for getting in touch\./);
    expect(next.text).toMatch(/\n\nBest,\nAcme Support$/);
    const { next: sorry } = await again('Apologise for the delay');
    expect(sorry.text).toContain("We're sorry for the inconvenience.");
  });

  it('keeps what the operator wrote in an edit and leaves out what they deleted', async () => {
    const first = await drafter.draft(prompt());
    const edited = first.text
      .replace('Hello Dana Whitfield,', 'Hi Dana,')
      .replace('Items must be unused and complete.', 'Your refund was approved today.')
      .replace(/Kind regards,\nAcme Support$/, 'Best wishes,\nSam at Acme');
    const next = await drafter.draft(prompt({ earlierDrafts: [{ attempt: 1, text: first.text, rejectionReason: 'Too impersonal', editedText: edited }] }));
    expect(next.text).toMatch(/^Hi Dana,\n\n/);
    expect(next.text).toContain('Your refund was approved today.');
    expect(next.text).not.toContain('Items must be unused');
    expect(next.text).toMatch(/Best wishes,\nSam at Acme$/);
  });

  it('never gives back an earlier draft, even for a reason no rule reads, and follows every earlier reason', async () => {
    const { first, next } = await again('Not great');
    expect(next.text).not.toBe(first.text);
    const third = await drafter.draft(
      prompt({
        earlierDrafts: [
          { attempt: 1, text: first.text, rejectionReason: 'Not great', editedText: null },
          { attempt: 2, text: next.text, rejectionReason: 'Too formal', editedText: null },
        ],
      }),
    );
    expect([first.text, next.text]).not.toContain(third.text);
    expect(third.text).toMatch(/^Hi Dana Whitfield,/);
  });
});

describe('takeCitations', () => {
  const passages = prompt().passages;

  it('takes [n] markers and the "Sources:" line out of a model’s reply, and names the passages they number', () => {
    const text = 'Hello Dana,\n\nRefunds take 5 days [1]. Express shipping costs 9 EUR [2, 3].\n\nKind regards,\nAcme\n\nSources: 1, 2';
    expect(takeCitations(text, passages)).toEqual({ text: 'Hello Dana,\n\nRefunds take 5 days. Express shipping costs 9 EUR.\n\nKind regards,\nAcme', citations: ['c-ret', 'c-ship', 'c-war'] });
    // Numbers naming no passage are dropped; a sentence that merely starts with "Sources" stays.
    expect(takeCitations('See our returns page [9].\nSources of delay: customs.\nSources: none', passages)).toEqual({ text: 'See our returns page.\nSources of delay: customs.', citations: [] });
  });
});
