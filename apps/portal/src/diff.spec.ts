import { sideBySide } from './diff';

const side = (parts: { text: string; kind: string }[], drop: string) => parts.filter((p) => p.kind !== drop).map((p) => p.text).join('');

describe('sideBySide', () => {
  it('marks what the edit removes on the left and what it adds on the right', () => {
    const { left, right } = sideBySide('A refund takes five business days.', 'Your refund takes five business days at most.');
    expect(left.filter((p) => p.kind === 'removed').map((p) => p.text.trim())).toEqual(['A', 'days.']);
    expect(right.filter((p) => p.kind === 'added').map((p) => p.text.trim())).toEqual(['Your', 'days at most.']);
    expect(right.some((p) => p.kind === 'removed') || left.some((p) => p.kind === 'added')).toBe(false);
  });

  it('gives back each text whole from its side, whatever the edit', () => {
    const words = ['refund', 'card', 'days', 'five', '\n', ' ', 'the', 'Kind regards,'];
    let seed = 7;
    const pick = () => words[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % words.length]!;
    for (let i = 0; i < 200; i++) {
      const a = Array.from({ length: i % 17 }, pick).join(' ');
      const b = Array.from({ length: (i * 7) % 13 }, pick).join(' ');
      const { left, right } = sideBySide(a, b);
      expect(side(left, 'added')).toBe(a);
      expect(side(right, 'removed')).toBe(b);
    }
  });

  it('has nothing marked when nothing changed', () => {
    const { left, right } = sideBySide('Same text.\nTwo lines.', 'Same text.\nTwo lines.');
    expect([...left, ...right].every((p) => p.kind === 'same')).toBe(true);
  });
});
