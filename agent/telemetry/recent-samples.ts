import type { Sample } from './types.js';

/** Enough for a lingering frame and the frames in flight at one tick a second; an outage overflows it. */
export const RECENT_SAMPLES_CAPACITY = 32;

/**
 * Sample batches just written to the spool, by sequence number, so the client
 * can frame them without decoding the spool's copy. Oldest go first once the
 * capacity is reached: what falls out is read back from the spool like any
 * other backlog, so an outage costs decoding later, never memory now.
 */
export class RecentSamples {
  private readonly bySeq = new Map<number, readonly Sample[]>();

  constructor(private readonly capacity = RECENT_SAMPLES_CAPACITY) {}

  get size(): number {
    return this.bySeq.size;
  }

  remember(seq: number, samples: readonly Sample[]): void {
    this.bySeq.delete(seq);
    this.bySeq.set(seq, samples);
    // A Map iterates in insertion order, so its first key is the oldest entry.
    if (this.bySeq.size > this.capacity) this.bySeq.delete(this.bySeq.keys().next().value!);
  }

  get(seq: number): readonly Sample[] | undefined {
    return this.bySeq.get(seq);
  }

  /** Kept until acknowledged rather than until sent: a frame lost with its connection goes out again. */
  forgetThrough(seq: number): void {
    for (const s of this.bySeq.keys()) if (s <= seq) this.bySeq.delete(s);
  }
}
