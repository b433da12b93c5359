import net from 'node:net';
import { seededRandom } from './seeded-random.js';

/**
 * A loopback TCP proxy that misbehaves on request: drops connections, stalls
 * them (no bytes either way, so pings go unanswered), delays every chunk, or
 * silently loses a chunk in the middle of a stream (the receiver sees garbage
 * framing or waits forever). It listens and connects on 127.0.0.1 only, and
 * shuts itself down after `lifetimeMs` so a failed test cannot leave it behind.
 */
export interface ChaosProxyOptions {
  targetPort: number;
  lifetimeMs?: number;
  seed?: number;
}

export type Fault = 'drop' | 'stall' | 'delay' | 'lose-chunk';
/** `upstream` is client to target. */
export type Direction = 'upstream' | 'downstream' | 'any';

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
}

export class ChaosProxy {
  private readonly pairs = new Set<Pair>();
  private stalled = false;
  private delayMs = 0;
  private refusing = false;
  private lose: { direction: Direction; minBytes: number } | null = null;
  private randomTimer: NodeJS.Timeout | null = null;
  private readonly lifetime: NodeJS.Timeout;
  readonly counts = { connections: 0, drops: 0, stalls: 0, delays: 0, lostChunks: 0 };

  private constructor(
    private readonly server: net.Server,
    private targetPort: number,
    lifetimeMs: number,
  ) {
    this.lifetime = setTimeout(() => void this.close(), lifetimeMs);
    this.lifetime.unref();
  }

  static async start(opts: ChaosProxyOptions): Promise<ChaosProxy> {
    const server = net.createServer();
    const proxy = new ChaosProxy(server, opts.targetPort, opts.lifetimeMs ?? 120_000);
    server.on('connection', (s) => proxy.accept(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  setTarget(port: number): void {
    this.targetPort = port;
  }

  get openConnections(): number {
    return this.pairs.size;
  }

  /** Cuts every open connection (both sides see a reset). */
  dropAll(): void {
    this.counts.drops++;
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
  }

  /** While stalled, no byte moves in either direction; connections stay open. */
  stall(on: boolean): void {
    if (on && !this.stalled) this.counts.stalls++;
    this.stalled = on;
    for (const p of this.pairs) {
      for (const s of [p.client, p.upstream]) {
        if (on) s.pause();
        else s.resume();
      }
    }
  }

  /** Adds latency to every chunk (order is kept). */
  delay(ms: number): void {
    if (ms > 0) this.counts.delays++;
    this.delayMs = ms;
  }

  /** New connections are accepted and closed at once. */
  refuse(on: boolean): void {
    this.refusing = on;
  }

  /** The next chunk of at least `minBytes` going `direction` is thrown away. */
  loseChunk(direction: Direction = 'any', minBytes = 0): void {
    this.lose = { direction, minBytes };
  }

  /** Injects a random fault every `everyMs` (seeded), each lasting up to `maxFaultMs`. */
  randomFaults(everyMs: number, maxFaultMs: number, seed = 1, faults: readonly Fault[] = ['drop', 'stall', 'delay', 'lose-chunk']): void {
    const rand = seededRandom(seed);
    this.stopFaults();
    this.randomTimer = setInterval(() => {
      const fault = faults[Math.floor(rand() * faults.length)]!;
      const length = Math.floor(rand() * maxFaultMs);
      if (fault === 'drop') this.dropAll();
      else if (fault === 'lose-chunk') {
        this.counts.lostChunks++;
        this.loseChunk();
      } else if (fault === 'stall') {
        this.stall(true);
        setTimeout(() => this.stall(false), length).unref();
      } else {
        this.delay(Math.min(length, 300));
        setTimeout(() => this.delay(0), length).unref();
      }
    }, everyMs);
    this.randomTimer.unref();
  }

  stopFaults(): void {
    if (this.randomTimer) clearInterval(this.randomTimer);
    this.randomTimer = null;
    this.stall(false);
    this.delay(0);
    this.lose = null;
  }

  async close(): Promise<void> {
    clearTimeout(this.lifetime);
    this.stopFaults();
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    client.on('error', () => undefined);
    if (this.refusing) {
      client.destroy();
      return;
    }
    this.counts.connections++;
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    upstream.on('error', () => undefined);
    const pair: Pair = { client, upstream };
    this.pairs.add(pair);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('close', end);
    upstream.on('close', end);
    this.forward(client, upstream, 'upstream');
    this.forward(upstream, client, 'downstream');
    if (this.stalled) {
      client.pause();
      upstream.pause();
    }
  }

  private forward(from: net.Socket, to: net.Socket, direction: Direction): void {
    let chain = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      const lose = this.lose;
      if (lose && (lose.direction === 'any' || lose.direction === direction) && chunk.length >= lose.minBytes) {
        this.lose = null;
        return;
      }
      const wait = this.delayMs;
      if (wait === 0) {
        chain = chain.then(() => void to.write(chunk));
        return;
      }
      chain = chain.then(
        () =>
          new Promise<void>((resolve) =>
            setTimeout(() => {
              if (!to.destroyed) to.write(chunk);
              resolve();
            }, wait),
          ),
      );
    });
  }
}
