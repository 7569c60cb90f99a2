import { Embedder, Embeddings } from './embedder';

/** Words: runs of letters and digits in any script, lower-cased (so "Refund", "refund," and "REFUND" are one). */
const WORD = /[\p{L}\p{N}]+/gu;

/** FNV-1a, 32 bits: a fast, stable hash (the same vector for the same text in every process and version). */
function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * The offline embedder (the default: no network, no model files): feature hashing of the text's
 * words and word pairs into `dimensions` signed buckets, weighted by log term frequency, normalised
 * to unit length. Texts sharing words are near in cosine distance, texts sharing none are
 * orthogonal, so retrieval and the isolation tests behave like with a real model, deterministically.
 * It knows no synonyms: that is what a real model (OpenAiEmbedder) adds.
 */
export class LocalEmbedder extends Embedder {
  readonly model: string;

  constructor(readonly dimensions = 384) {
    super();
    if (!Number.isSafeInteger(dimensions) || dimensions < 8) throw new RangeError(`dimensions must be an integer of at least 8, got ${dimensions}`);
    this.model = `local-hash-${dimensions}`;
  }

  embed(texts: readonly string[]): Promise<Embeddings> {
    return Promise.resolve({ vectors: texts.map((t) => this.vector(t)), model: this.model, tokens: 0 });
  }

  vector(text: string): number[] {
    const words = (text.toLowerCase().match(WORD) ?? []).filter((w) => w.length > 1 || /\p{N}/u.test(w));
    const counts = new Map<string, number>();
    const add = (feature: string, weight: number) => counts.set(feature, (counts.get(feature) ?? 0) + weight);
    for (let i = 0; i < words.length; i++) {
      add(words[i]!, 1);
      if (i + 1 < words.length) add(`${words[i]} ${words[i + 1]}`, 0.5);
    }
    const v = new Array<number>(this.dimensions).fill(0);
    for (const [feature, count] of counts) {
      const h = fnv1a(feature);
      const sign = fnv1a(feature, 0x9747b28c) & 1 ? 1 : -1;
      v[h % this.dimensions]! += sign * (1 + Math.log(count));
    }
    const norm = Math.hypot(...v);
    // An empty text (or one of punctuation only) has no direction: a fixed unit vector, far from every real text.
    if (norm === 0) {
      v[0] = 1;
      return v;
    }
    return v.map((x) => x / norm);
  }
}
