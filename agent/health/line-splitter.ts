/**
 * Cuts a byte stream into lines without ever holding more than one line's
 * worth of bytes: an overlong line is dropped whole, so a hostile writer
 * cannot make the reader buffer without bound. Pure.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private discarding = false;

  constructor(private readonly maxLineBytes: number) {}

  /** Complete lines found so far, without their newline. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      this.take(chunk.subarray(start, nl));
      if (!this.discarding) lines.push(Buffer.concat(this.pending, this.pendingBytes).toString('utf8'));
      this.reset();
      start = nl + 1;
    }
    this.take(chunk.subarray(start));
    return lines;
  }

  private take(part: Buffer): void {
    if (this.discarding || part.length === 0) return;
    if (this.pendingBytes + part.length > this.maxLineBytes) {
      this.discarding = true;
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    this.pending.push(Buffer.from(part));
    this.pendingBytes += part.length;
  }

  private reset(): void {
    this.pending = [];
    this.pendingBytes = 0;
    this.discarding = false;
  }
}
