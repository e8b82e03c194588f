/**
 * Turns generated text, arriving piece by piece, into the deltas a client may see, honouring stop strings.
 * A stream must never show text that later turns out to be the start of a stop string, so the tail that could
 * still grow into one is held back until it either completes the stop string (generation ends, the stop string
 * and everything after it dropped) or stops matching (released).
 * Pure: no model, no I/O, unit-tested on its own.
 */
export class StopStringFilter {
  private readonly stops: string[];
  private pending = '';
  private stopped = false;

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  get hasStopped(): boolean {
    return this.stopped;
  }

  /** Feed a piece of text; returns what may be shown now. After a stop string matched, returns ''. */
  push(text: string): string {
    if (this.stopped) return '';
    this.pending += text;
    if (this.stops.length === 0) {
      const out = this.pending;
      this.pending = '';
      return out;
    }
    // Earliest complete stop string wins.
    let cut = -1;
    for (const stop of this.stops) {
      const at = this.pending.indexOf(stop);
      if (at !== -1 && (cut === -1 || at < cut)) cut = at;
    }
    if (cut !== -1) {
      this.stopped = true;
      const out = this.pending.slice(0, cut);
      this.pending = '';
      return out;
    }
    // Hold back the longest suffix that is a prefix of some stop string.
    const hold = this.partialMatchLength();
    const out = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return out;
  }

  /** Generation ended without a stop string: whatever was held back is real output. */
  flush(): string {
    if (this.stopped) return '';
    const out = this.pending;
    this.pending = '';
    return out;
  }

  private partialMatchLength(): number {
    let best = 0;
    for (const stop of this.stops) {
      const max = Math.min(stop.length - 1, this.pending.length);
      for (let len = max; len > best; len--) {
        if (this.pending.endsWith(stop.slice(0, len))) {
          best = len;
          break;
        }
      }
    }
    return best;
  }
}

/**
 * UTF-8 characters can span tokens (byte-fallback vocabularies emit one byte per token): a token whose text ends
 * in U+FFFD is held until the following tokens complete the character. Detokenizing the held tokens together
 * yields the whole character.
 */
export const REPLACEMENT_CHAR = '\uFFFD';
/** A UTF-8 character has at most 4 bytes; past that the bytes are truly invalid and are shown as they are. */
export const MAX_HELD_TOKENS = 4;
