/**
 * Which driver events make a device unhealthy. Pure: no I/O, no clock.
 */
import { DEFAULT_IGNORED_XIDS } from './options.js';
import type { DeviceEvent } from './signals.js';

export type EventVerdict = 'ignored' | 'critical';

export interface ClassifiedEvent {
  verdict: EventVerdict;
  /** Human-readable cause, used as the device's health reason when critical. */
  reason: string;
}

export interface XidPolicyOptions {
  /** Replaces the default list of application-caused Xids. */
  ignoredXids?: readonly number[];
  /** Always critical; wins over `ignoredXids`. */
  fatalXids?: readonly number[];
}

/**
 * What common Xids mean, so a reason says more than a number. Meanings follow
 * NVIDIA's published Xid catalogue; unknown Xids are still classified, just
 * described by number only.
 */
export const XID_MEANINGS: Readonly<Record<number, string>> = Object.freeze({
  8: 'GPU stopped responding (engine timeout)',
  13: 'graphics engine exception (usually an application fault)',
  31: 'GPU memory page fault (usually an application fault)',
  32: 'invalid or corrupted push buffer stream',
  38: 'driver firmware error',
  43: 'GPU stopped processing (usually an application fault)',
  45: 'preemptive cleanup after earlier errors',
  48: 'double-bit ECC error',
  56: 'display engine error',
  61: 'internal micro-controller breakpoint',
  62: 'internal micro-controller halt',
  63: 'ECC page retirement or row remapping recorded',
  64: 'ECC page retirement or row remapping failed',
  68: 'video decoder exception (usually an application fault)',
  69: 'graphics engine class error',
  74: 'NVLink error',
  79: 'GPU has fallen off the bus',
  92: 'high single-bit ECC error rate',
  94: 'contained ECC error',
  95: 'uncontained ECC error',
  109: 'context switch timeout (usually an application fault)',
  119: 'GSP RPC timeout',
  120: 'GSP error',
  121: 'C2C link error',
  140: 'unrecovered ECC error',
});

export function describeXid(xid: number): string {
  const meaning = XID_MEANINGS[xid];
  return meaning === undefined ? `Xid ${xid}` : `Xid ${xid} (${meaning})`;
}

export class XidPolicy {
  private readonly ignored: ReadonlySet<number>;
  private readonly fatal: ReadonlySet<number>;

  constructor(options: XidPolicyOptions = {}) {
    this.ignored = new Set(options.ignoredXids ?? DEFAULT_IGNORED_XIDS);
    this.fatal = new Set(options.fatalXids ?? []);
  }

  classifyXid(xid: number): EventVerdict {
    if (this.fatal.has(xid)) return 'critical';
    return this.ignored.has(xid) ? 'ignored' : 'critical';
  }

  /**
   * Single-bit ECC errors are corrected by the hardware and only counted;
   * double-bit errors lose data, as Xid 48 does.
   */
  classify(event: DeviceEvent): ClassifiedEvent {
    switch (event.kind) {
      case 'xid':
        return { verdict: this.classifyXid(event.xid), reason: describeXid(event.xid) };
      case 'ecc_double':
        return { verdict: 'critical', reason: 'double-bit ECC error' };
      case 'ecc_single':
        return { verdict: 'ignored', reason: 'single-bit ECC error (corrected)' };
    }
  }
}
