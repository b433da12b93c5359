/**
 * The health of one device as a pure state machine: inputs carry their own
 * time, outputs are change records, nothing here reads a clock or does I/O.
 *
 * Rules (docs/health.md tells operators the same):
 * - A critical event or a raised condition makes a Healthy device Unhealthy at once.
 * - An Unhealthy device becomes Healthy only when no condition is raised, the
 *   quiet period has passed since its last trouble (the last critical event or
 *   the last condition clearing), and a probe started after that passes.
 * - Flapping: a failure within `flapWindowMs` of the previous recovery doubles
 *   the quiet period of the failure before it (base, 2x, 4x, ...) up to
 *   `maxQuietPeriodMs`; a failure after a longer healthy spell starts again
 *   from the base period.
 */
import type { Health } from '../model/device.js';
import { CONDITIONS, type Condition } from './signals.js';

export interface RecoveryPolicy {
  quietPeriodMs: number;
  maxQuietPeriodMs: number;
  flapWindowMs: number;
}

export type HealthInput =
  | { type: 'critical'; at: number; reason: string }
  | { type: 'raise'; at: number; condition: Condition; detail: string }
  | { type: 'clear'; at: number; condition: Condition }
  | { type: 'probe'; at: number; startedAt: number; ok: boolean; detail: string };

/**
 * A change of health, or of the reason of an Unhealthy device (then
 * `from === to`). For a recovery `reason` says why the device came back; the
 * device's own health reason is then empty.
 */
export interface HealthChange {
  id: string;
  from: Health;
  to: Health;
  reason: string;
  at: number;
}

export interface ConditionStatus {
  condition: Condition;
  detail: string;
  since: number;
}

export interface DeviceHealthStatus {
  id: string;
  health: Health;
  /** Empty when Healthy. */
  reason: string;
  /** When `health` last changed. */
  since: number;
  conditions: ConditionStatus[];
  lastCritical: { reason: string; at: number } | null;
  /** The quiet period this failure must sit out (grows while the device flaps). */
  quietPeriodMs: number;
  /** Earliest recovery time once no condition is raised; null while Healthy or a condition holds. */
  quietUntil: number | null;
  /** Consecutive failures that came soon after a recovery. */
  flaps: number;
  lastProbe: { at: number; ok: boolean; detail: string } | null;
}

/** Doubling stops long before this; the bound only keeps arithmetic finite. */
const MAX_FLAPS = 32;

export class DeviceHealth {
  private health: Health = 'Healthy';
  private reason = '';
  private since: number;
  private lastAt: number;
  private readonly conditions = new Map<Condition, { detail: string; since: number }>();
  /** The latest critical event or condition clearing: the quiet period counts from here. */
  private lastTrouble: { cause: string; at: number } | null = null;
  private lastCritical: { reason: string; at: number } | null = null;
  private lastRecoveredAt: number | null = null;
  private flaps = 0;
  private quietMs: number;
  private lastProbe: { at: number; ok: boolean; detail: string } | null = null;

  constructor(
    readonly id: string,
    private readonly policy: RecoveryPolicy,
    createdAt: number,
  ) {
    this.since = createdAt;
    this.lastAt = createdAt;
    this.quietMs = policy.quietPeriodMs;
  }

  get current(): Health {
    return this.health;
  }

  get currentReason(): string {
    return this.reason;
  }

  apply(input: HealthInput): HealthChange | null {
    const at = this.advance(input.at);
    const before = this.health;
    let recoveredBy: string | null = null;
    switch (input.type) {
      case 'critical':
        this.lastCritical = { reason: input.reason, at };
        this.lastTrouble = { cause: input.reason, at };
        if (this.health === 'Healthy') this.fail(at);
        break;
      case 'raise': {
        const held = this.conditions.get(input.condition);
        this.conditions.set(input.condition, { detail: input.detail, since: held?.since ?? at });
        if (this.health === 'Healthy') this.fail(at);
        break;
      }
      case 'clear': {
        const held = this.conditions.get(input.condition);
        // Clearing what was never raised is news of nothing and must not restart the quiet period.
        if (held === undefined) return null;
        this.conditions.delete(input.condition);
        this.lastTrouble = { cause: `${held.detail} (resolved)`, at };
        break;
      }
      case 'probe': {
        this.lastProbe = { at, ok: input.ok, detail: input.detail };
        const until = this.quietUntil();
        if (input.ok && until !== null && input.startedAt >= until) {
          this.health = 'Healthy';
          this.since = at;
          this.lastRecoveredAt = at;
          recoveredBy = `recovered: quiet for ${formatDuration(this.quietMs)} and probe passed (${input.detail})`;
        }
        break;
      }
    }
    return this.report(before, at, recoveredBy);
  }

  /** When the device could recover if a probe passes; null when nothing would help yet. */
  wakeAt(): number | null {
    return this.quietUntil();
  }

  wantsProbe(now: number): boolean {
    const until = this.quietUntil();
    return until !== null && now >= until;
  }

  status(): DeviceHealthStatus {
    return {
      id: this.id,
      health: this.health,
      reason: this.reason,
      since: this.since,
      conditions: this.orderedConditions(),
      lastCritical: this.lastCritical,
      quietPeriodMs: this.quietMs,
      quietUntil: this.quietUntil(),
      flaps: this.flaps,
      lastProbe: this.lastProbe,
    };
  }

  private quietUntil(): number | null {
    if (this.health === 'Healthy' || this.conditions.size > 0 || this.lastTrouble === null) return null;
    return this.lastTrouble.at + this.quietMs;
  }

  private fail(at: number): void {
    const flapping = this.lastRecoveredAt !== null && at - this.lastRecoveredAt < this.policy.flapWindowMs;
    this.flaps = flapping ? Math.min(this.flaps + 1, MAX_FLAPS) : 0;
    this.quietMs = quietPeriodFor(this.flaps, this.policy);
    this.health = 'Unhealthy';
    this.since = at;
  }

  private report(before: Health, at: number, recoveredBy: string | null): HealthChange | null {
    const previousReason = this.reason;
    this.reason = this.describe();
    if (before !== this.health) {
      return { id: this.id, from: before, to: this.health, reason: recoveredBy ?? this.reason, at };
    }
    if (this.health === 'Unhealthy' && this.reason !== previousReason) {
      return { id: this.id, from: before, to: this.health, reason: this.reason, at };
    }
    return null;
  }

  private describe(): string {
    if (this.health === 'Healthy') return '';
    if (this.conditions.size > 0) return this.orderedConditions().map((c) => c.detail).join('; ');
    return this.lastTrouble?.cause ?? 'unhealthy';
  }

  private orderedConditions(): ConditionStatus[] {
    return CONDITIONS.flatMap((condition) => {
      const c = this.conditions.get(condition);
      return c === undefined ? [] : [{ condition, detail: c.detail, since: c.since }];
    });
  }

  /** Time never runs backwards inside one machine, whatever the host clock does. */
  private advance(at: number): number {
    if (Number.isFinite(at) && at > this.lastAt) this.lastAt = at;
    return this.lastAt;
  }
}

/** The quiet period after `flaps` consecutive quick re-failures. */
export function quietPeriodFor(flaps: number, policy: Pick<RecoveryPolicy, 'quietPeriodMs' | 'maxQuietPeriodMs'>): number {
  let q = policy.quietPeriodMs;
  for (let i = 0; i < flaps && q < policy.maxQuietPeriodMs; i++) q *= 2;
  return Math.min(q, policy.maxQuietPeriodMs);
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = Math.round(ms / 1000);
  const parts: string[] = [];
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) parts.push(`${h}h`);
  if (m > 0) parts.push(`${m}m`);
  if (sec > 0 || parts.length === 0) parts.push(`${sec}s`);
  return parts.join('');
}
