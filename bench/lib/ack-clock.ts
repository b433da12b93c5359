/**
 * Acknowledgement latency as a sender sees it: the time from handing a frame
 * to the socket to the acknowledgement that covers its last record. The
 * collector acknowledges cumulatively, so one acknowledgement may settle
 * several frames.
 */

export interface AckedFrame {
  /** When the frame was sent, on the caller's clock. */
  sentAt: number;
  /** How long its acknowledgement took, in the clock's unit. */
  waited: number;
}

export class AckClock {
  private pending: Array<{ lastSeq: number; sentAt: number }> = [];

  /** A frame whose highest sequence number is `lastSeq` went out at `at`. */
  sent(lastSeq: number, at: number): void {
    const newest = this.pending[this.pending.length - 1];
    if (newest && lastSeq <= newest.lastSeq) throw new RangeError(`frames must be sent in sequence order: ${lastSeq} after ${newest.lastSeq}`);
    this.pending.push({ lastSeq, sentAt: at });
  }

  /** An acknowledgement of everything up to `seq` arrived at `at`: the frames it settles, oldest first. */
  acked(seq: number, at: number): AckedFrame[] {
    let settled = 0;
    while (settled < this.pending.length && this.pending[settled]!.lastSeq <= seq) settled++;
    return this.pending.splice(0, settled).map((f) => ({ sentAt: f.sentAt, waited: at - f.sentAt }));
  }
}
