// A word-level diff for the side-by-side view of an edit: the longest common subsequence of the
// two texts' words (and the spaces between them), so each side marks what it alone has.

export interface Part {
  text: string;
  /** 'same' on both sides; 'removed' only in the draft; 'added' only in the edit. */
  kind: 'same' | 'removed' | 'added';
}

const tokens = (s: string): string[] => s.match(/\s+|[^\s]+/g) ?? [];

/** The two sides: the draft with what the edit removes, the edit with what it adds. */
export function sideBySide(before: string, after: string): { left: Part[]; right: Part[] } {
  let a = tokens(before);
  let b = tokens(after);
  // The common start and end need no table.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const prefix = a.slice(0, head).join('');
  const suffix = a.slice(a.length - tail).join('');
  a = a.slice(head, a.length - tail);
  b = b.slice(head, b.length - tail);
  const n = a.length;
  const m = b.length;
  const table = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) table[i * (m + 1) + j] = a[i] === b[j] ? table[(i + 1) * (m + 1) + j + 1]! + 1 : Math.max(table[(i + 1) * (m + 1) + j]!, table[i * (m + 1) + j + 1]!);
  const left: Part[] = [];
  const right: Part[] = [];
  const push = (side: Part[], text: string, kind: Part['kind']) => {
    const last = side[side.length - 1];
    if (last && last.kind === kind) last.text += text;
    else if (text) side.push({ text, kind });
  };
  push(left, prefix, 'same');
  push(right, prefix, 'same');
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      push(left, a[i]!, 'same');
      push(right, b[j]!, 'same');
      i++;
      j++;
    } else if (j < m && (i === n || table[i * (m + 1) + j + 1]! >= table[(i + 1) * (m + 1) + j]!)) push(right, b[j++]!, 'added');
    else push(left, a[i++]!, 'removed');
  }
  push(left, suffix, 'same');
  push(right, suffix, 'same');
  return { left, right };
}
