/**
 * Watches the host's kernel log for NVIDIA Xid lines: the fallback when NVML
 * events are unavailable. On a real host `/dev/kmsg` is a character device
 * that hands out one record per read; on a simulated host it is a regular
 * file that grows. Both are read without blocking and from the end: what
 * happened before the agent started was already acted on (or not) back then.
 */
import { constants } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { AccelError, ErrorCode, describeError } from '../errors.js';
import type { HostRoot } from '../host/host-root.js';
import { silentLogger, type Logger } from '../log.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { MAX_LINE_LENGTH, parseKernelLogLine, parseKmsgRecord, type XidReport } from './kmsg-parser.js';
import { LineSplitter } from './line-splitter.js';
import type { HealthSource, HealthTarget, SignalSink } from './signals.js';

export interface KmsgSourceOptions {
  host: HostRoot;
  devices: readonly HealthTarget[];
  /** Host path of the kernel log. */
  path?: string;
  pollIntervalMs?: number;
  /** Reads spent skipping old records at start; a device that never runs dry is not a kernel log. */
  maxBacklogReads?: number;
  clock?: Clock;
  log?: Logger;
}

export interface KmsgStats {
  /** Records (device) or lines (file) examined. */
  records: number;
  xids: number;
  /** Xids naming a PCI address no watched device has. */
  unmatched: number;
}

/** The kernel refuses reads into buffers smaller than a record; 16 KiB holds any. */
const RECORD_BUFFER = 16 * 1024;
/** Bounds one poll's work so a flood cannot stall the event loop. */
const MAX_READS_PER_POLL = 1024;
const MAX_FILE_BYTES_PER_POLL = 256 * 1024;

type Reader =
  | { kind: 'device'; fh: FileHandle }
  | { kind: 'file'; fh: FileHandle; ino: number; offset: number; lines: LineSplitter };

export class KmsgSource implements HealthSource {
  readonly name = 'kmsg';
  readonly stats: KmsgStats = { records: 0, xids: 0, unmatched: 0 };
  private readonly hostPath: string;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly interval: number;
  private readonly buf = Buffer.alloc(RECORD_BUFFER);
  private reader: Reader | null = null;
  private resolvedPath = '';
  private emit: SignalSink | null = null;
  private timer: TimerHandle | null = null;
  /** Polls run one after another: two reads racing on one offset would report lines twice. */
  private queue: Promise<unknown> = Promise.resolve();
  private lastFailure: string | null = null;

  constructor(private readonly opts: KmsgSourceOptions) {
    this.hostPath = opts.path ?? '/dev/kmsg';
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    this.interval = opts.pollIntervalMs ?? 250;
  }

  async start(emit: SignalSink): Promise<void> {
    if (this.reader !== null) return;
    const resolved = await this.opts.host.resolveWithin(this.hostPath, [path.posix.dirname(this.hostPath)]).catch((err: unknown) => {
      throw new AccelError(ErrorCode.HEALTH_SOURCE, `kernel log ${this.hostPath} cannot be resolved`, { cause: err });
    });
    if (resolved === null) throw new AccelError(ErrorCode.HEALTH_SOURCE, `kernel log ${this.hostPath} does not exist`);
    this.resolvedPath = resolved;
    this.reader = await this.openAtEnd();
    this.emit = emit;
    this.schedule(this.interval);
  }

  async stop(): Promise<void> {
    this.emit = null;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    await this.queue;
    const r = this.reader;
    this.reader = null;
    await r?.fh.close().catch(() => undefined);
  }

  /** Reads what arrived since the last poll; true when more is waiting than one poll may take. */
  pollOnce(): Promise<boolean> {
    const run = this.queue.then(() => {
      const r = this.reader;
      if (r === null) return false;
      return r.kind === 'device' ? this.readRecords(r.fh, MAX_READS_PER_POLL, true) : this.readFile(r);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private schedule(delay: number): void {
    this.timer = this.clock.setTimer(() => {
      this.timer = null;
      void this.pollOnce()
        .then(
          (more) => {
            this.lastFailure = null;
            return more;
          },
          (err: unknown) => {
            // A lasting failure is logged when it starts or changes, not on every poll.
            const msg = describeError(err);
            if (msg !== this.lastFailure) this.log.warn({ err: msg, path: this.hostPath }, 'kernel log read failed');
            this.lastFailure = msg;
            return false;
          },
        )
        .then((more) => {
          if (this.emit !== null) this.schedule(more ? 0 : this.interval);
        });
    }, delay);
  }

  private async openAtEnd(): Promise<Reader> {
    let fh: FileHandle;
    try {
      fh = await open(this.opts.host.path(this.resolvedPath), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    } catch (err) {
      throw new AccelError(ErrorCode.HEALTH_SOURCE, `cannot open kernel log ${this.hostPath}`, { cause: err });
    }
    const st = await fh.stat();
    if (st.isCharacterDevice()) {
      const limit = this.opts.maxBacklogReads ?? 65536;
      if (await this.readRecords(fh, limit, false)) {
        this.log.warn({ path: this.hostPath, reads: limit }, 'kernel log backlog did not run dry; watching from here');
      }
      return { kind: 'device', fh };
    }
    if (st.isFile()) return { kind: 'file', fh, ino: st.ino, offset: st.size, lines: new LineSplitter(MAX_LINE_LENGTH) };
    await fh.close();
    throw new AccelError(ErrorCode.HEALTH_SOURCE, `kernel log ${this.hostPath} is neither a character device nor a file`);
  }

  /**
   * One kmsg record per read until the device has nothing more. Returns true
   * when the read budget ran out first.
   */
  private async readRecords(fh: FileHandle, budget: number, report: boolean): Promise<boolean> {
    for (let i = 0; i < budget; i++) {
      let n: number;
      try {
        n = (await fh.read(this.buf, 0, this.buf.length, null)).bytesRead;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return false;
        // The ring buffer overwrote records we had not read yet; the next read continues after the gap.
        if (code === 'EPIPE') {
          this.log.warn({ path: this.hostPath }, 'kernel log records were lost before they could be read');
          continue;
        }
        throw err;
      }
      if (n === 0) return false;
      if (report) {
        this.stats.records++;
        this.report(parseKmsgRecord(this.buf.toString('utf8', 0, n)));
      }
    }
    return true;
  }

  private async readFile(r: Extract<Reader, { kind: 'file' }>): Promise<boolean> {
    const current = await lstat(this.opts.host.path(this.resolvedPath)).catch(() => null);
    if (current !== null && current.ino !== r.ino) {
      // Replaced (log rotation, simulated host rewritten): the new file is all news.
      await r.fh.close().catch(() => undefined);
      const fh = await open(this.opts.host.path(this.resolvedPath), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
      Object.assign(r, { fh, ino: (await fh.stat()).ino, offset: 0, lines: new LineSplitter(MAX_LINE_LENGTH) });
    }
    const size = (await r.fh.stat()).size;
    if (size < r.offset) {
      r.offset = 0;
      r.lines = new LineSplitter(MAX_LINE_LENGTH);
    }
    if (size === r.offset) return false;
    const want = Math.min(size - r.offset, MAX_FILE_BYTES_PER_POLL);
    const chunk = Buffer.alloc(want);
    const { bytesRead } = await r.fh.read(chunk, 0, want, r.offset);
    r.offset += bytesRead;
    for (const line of r.lines.push(chunk.subarray(0, bytesRead))) {
      this.stats.records++;
      this.report(parseKernelLogLine(line));
    }
    return r.offset < size;
  }

  private report(x: XidReport | null): void {
    if (x === null) return;
    this.stats.xids++;
    const target = this.targetOf(x.pciBusId);
    if (target === undefined) {
      this.stats.unmatched++;
      this.log.debug({ pciBusId: x.pciBusId, xid: x.xid }, 'Xid for a device that is not watched');
      return;
    }
    this.emit?.({ type: 'event', deviceId: target.id, event: { kind: 'xid', xid: x.xid }, source: 'kmsg' });
  }

  /** The driver names a GPU by domain:bus:device only, so any function of that slot matches. */
  private targetOf(pciBusId: string): HealthTarget | undefined {
    const gpus = this.opts.devices.filter((d) => d.vendor === 'nvidia');
    const slot = pciBusId.slice(0, pciBusId.lastIndexOf('.') + 1);
    return gpus.find((d) => d.pciBusId === pciBusId) ?? gpus.find((d) => d.pciBusId.startsWith(slot));
  }
}
