import { createTwoFilesPatch, diffChars } from 'diff';

export interface TextChange {
  /** The change as a unified diff (draft → edited), kept with the draft. */
  patch: string;
  charactersAdded: number;
  charactersRemoved: number;
}

/** What an operator changed in a draft before approving it. */
export function textChange(draft: string, edited: string): TextChange {
  let charactersAdded = 0;
  let charactersRemoved = 0;
  for (const part of diffChars(draft, edited)) {
    if (part.added) charactersAdded += part.value.length;
    else if (part.removed) charactersRemoved += part.value.length;
  }
  return { patch: createTwoFilesPatch('draft', 'edited', ensureNewline(draft), ensureNewline(edited), '', '', { context: 3 }), charactersAdded, charactersRemoved };
}

function ensureNewline(s: string): string {
  return s.endsWith('\n') ? s : `${s}\n`;
}
