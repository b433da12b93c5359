/**
 * What the agent sends next on one connection, as pure bookkeeping.
 *
 * Priority records (events, gaps, device labels) go first, each once per
 * connection, whatever the bulk position. Bulk records go in sequence order
 * from the collector's acknowledged position, at most `maxInflight` frames
 * ahead of the acknowledgements. Priority frames do not count against the
 * window: the collector acknowledges cumulatively, so an event sent ahead is
 * only acknowledged once the bulk catches up, and counting it could stall the
 * very bulk it waits for.
 */
export class SendWindow {
  private acked = 0;
  private cursor = 1;
  private readonly sentPriority = new Set<number>();
  /** Highest sequence number of each bulk frame not yet fully acknowledged, ascending. */
  private inflight: number[] = [];

  constructor(private readonly maxInflight: number) {
    if (!Number.isSafeInteger(maxInflight) || maxInflight < 1) throw new RangeError('maxInflight must be a positive integer');
  }

  /** Starts a connection at the collector's acknowledged position. */
  reset(ackedSeq: number): void {
    this.acked = ackedSeq;
    this.cursor = ackedSeq + 1;
    this.sentPriority.clear();
    this.inflight = [];
  }

  get ackedSeq(): number {
    return this.acked;
  }

  /** The next sequence number the bulk stream will ask the spool for. */
  get bulkCursor(): number {
    return this.cursor;
  }

  get inflightFrames(): number {
    return this.inflight.length;
  }

  canSendBulk(): boolean {
    return this.inflight.length < this.maxInflight;
  }

  /** The first priority record not yet sent on this connection and not yet acknowledged. */
  nextPriority(prioritySeqs: readonly number[]): number | undefined {
    return prioritySeqs.find((s) => s > this.acked && s >= 1 && !this.sentPriority.has(s) && s >= this.cursor);
  }

  markPrioritySent(seq: number): void {
    this.sentPriority.add(seq);
  }

  /** Records a bulk frame; returns the sequence numbers in it that still need sending. */
  takeBulk(seqs: readonly number[]): number[] {
    const fresh = seqs.filter((s) => s >= this.cursor && !this.sentPriority.has(s));
    if (seqs.length > 0) this.cursor = Math.max(this.cursor, seqs[seqs.length - 1]! + 1);
    if (fresh.length > 0) this.inflight.push(fresh[fresh.length - 1]!);
    return fresh;
  }

  /** Applies a cumulative acknowledgement; returns false when it does not move forward. */
  onAck(seq: number): boolean {
    if (seq <= this.acked) return false;
    this.acked = seq;
    if (this.cursor <= seq) this.cursor = seq + 1;
    this.inflight = this.inflight.filter((last) => last > seq);
    for (const s of this.sentPriority) if (s <= seq) this.sentPriority.delete(s);
    return true;
  }
}
