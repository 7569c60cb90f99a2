import { textChange } from './text-diff';

describe('textChange', () => {
  it('counts the characters an operator added and removed, and keeps the change as a unified diff', () => {
    const c = textChange('Refunds take 5 days.\nThanks!', 'Refunds take 3 days.\nThanks!');
    expect(c).toMatchObject({ charactersAdded: 1, charactersRemoved: 1 });
    expect(c.patch).toContain('-Refunds take 5 days.');
    expect(c.patch).toContain('+Refunds take 3 days.');
    expect(c.patch).not.toContain('-Thanks!');
  });

  it('sees an appended sentence as added text only', () => {
    expect(textChange('Hello.', 'Hello. Have a nice day.')).toMatchObject({ charactersAdded: 17, charactersRemoved: 0 });
  });
});
