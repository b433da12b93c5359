/**
 * A set of sequence numbers kept as sorted, disjoint, non-adjacent ranges.
 * A stream that arrives mostly in order stays one range however long it runs,
 * so the collector can remember every number it ever stored.
 */
export class SeqRanges {
  private ranges: Array<[number, number]> = [];

  get rangeCount(): number {
    return this.ranges.length;
  }

  /** How many numbers the set holds. */
  get size(): number {
    let n = 0;
    for (const [a, b] of this.ranges) n += b - a + 1;
    return n;
  }

  list(): Array<[number, number]> {
    return this.ranges.map(([a, b]) => [a, b]);
  }

  has(seq: number): boolean {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [a, b] = this.ranges[mid]!;
      if (seq < a) hi = mid - 1;
      else if (seq > b) lo = mid + 1;
      else return true;
    }
    return false;
  }

  add(seq: number): void {
    this.addRange(seq, seq);
  }

  addRange(from: number, to: number): void {
    if (to < from) return;
    let i = 0;
    while (i < this.ranges.length && this.ranges[i]![1] < from - 1) i++;
    let j = i;
    let lo = from;
    let hi = to;
    while (j < this.ranges.length && this.ranges[j]![0] <= to + 1) {
      lo = Math.min(lo, this.ranges[j]![0]);
      hi = Math.max(hi, this.ranges[j]![1]);
      j++;
    }
    this.ranges.splice(i, j - i, [lo, hi]);
  }

  /** The highest n such that every number in 1..n is in the set (0 when 1 is missing). */
  contiguousEnd(): number {
    const first = this.ranges[0];
    return first && first[0] <= 1 ? first[1] : 0;
  }
}
