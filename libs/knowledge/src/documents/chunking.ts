export interface ChunkingOptions {
  /** Longest chunk, in characters. Default 1 200 (a few paragraphs: what a passage in a prompt should be). */
  maxChars?: number;
  /** Characters of the previous chunk repeated at the start of the next (cut at a word), so a sentence split between two is whole in one. Default 150. */
  overlapChars?: number;
}

/**
 * Cuts a document's text into passages for retrieval: paragraphs are kept together while they fit,
 * a paragraph too long is cut between sentences, a sentence too long between words (a word longer
 * than a chunk, e.g. a URL, is cut hard). Consecutive chunks overlap by about `overlapChars`.
 * Deterministic: the same text always gives the same chunks.
 */
export function chunkText(text: string, options: ChunkingOptions = {}): string[] {
  const maxChars = options.maxChars ?? 1_200;
  const overlap = Math.min(options.overlapChars ?? 150, Math.floor(maxChars / 3));
  if (!Number.isSafeInteger(maxChars) || maxChars < 50) throw new RangeError(`maxChars must be an integer of at least 50, got ${maxChars}`);
  const pieces = text
    .split(/\n{2,}/)
    .map((p) => p.trim())
    .filter(Boolean)
    .flatMap((p) => fit(p, maxChars - overlap - 2));
  const chunks: string[] = [];
  let current = '';
  for (const piece of pieces) {
    if (current && current.length + 2 + piece.length > maxChars) {
      chunks.push(current);
      current = tail(current, overlap);
    }
    current = current ? `${current}${current.endsWith('\n') ? '' : '\n\n'}${piece}` : piece;
  }
  if (current.trim()) chunks.push(current);
  return chunks;
}

/** A paragraph as pieces of at most `limit` characters: whole, or by sentences, or by words. */
function fit(paragraph: string, limit: number): string[] {
  if (paragraph.length <= limit) return [paragraph];
  const sentences = paragraph.match(/[^.!?。！？\n]+(?:[.!?。！？]+["'”’)\]]*|\n|$)\s*/g) ?? [paragraph];
  const out: string[] = [];
  let cur = '';
  for (const s of sentences.flatMap((x) => (x.length <= limit ? [x] : byWords(x, limit)))) {
    if (cur && cur.length + s.length > limit) {
      out.push(cur.trim());
      cur = '';
    }
    cur += s;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function byWords(sentence: string, limit: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const word of sentence.split(/(?<=\s)/)) {
    for (let w = word; w.length > 0; ) {
      const room = limit - cur.length;
      if (w.length <= room) {
        cur += w;
        w = '';
      } else if (cur) {
        out.push(cur);
        cur = '';
      } else {
        out.push(w.slice(0, limit));
        w = w.slice(limit);
      }
    }
  }
  if (cur) out.push(cur);
  return out;
}

/** The end of a chunk to repeat at the start of the next: about `n` characters, starting at a word. */
function tail(chunk: string, n: number): string {
  if (n <= 0) return '';
  const start = chunk.length - n;
  if (start <= 0) return '';
  const space = chunk.indexOf(' ', start);
  return space === -1 ? '' : `${chunk.slice(space + 1).trim()} `;
}
