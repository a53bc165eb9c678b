/**
 * The per-rule circuit breaker: at most `limit` runs started by one rule in any sliding hour, so a
 * cluster-wide incident (every instance firing at once) or a flapping alert cannot start runbooks
 * without end. Per receiver process: a restart starts the count again.
 */
export const BREAKER_WINDOW_MS = 60 * 60 * 1000;

export class RunBreaker {
  /** Per rule: when each run counted in the window was started (or reserved), oldest first. */
  private readonly starts = new Map<string, number[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Reserves one start for the rule, or answers undefined when the rule has used its budget. The
   * reservation is returned by `release` when no run was started after all (attached, failed).
   */
  reserve(rule: string, limit: number): { release: () => void } | undefined {
    const now = this.now();
    const times = this.starts.get(rule) ?? [];
    while (times.length > 0 && times[0]! <= now - BREAKER_WINDOW_MS) times.shift();
    this.starts.set(rule, times);
    if (times.length >= limit) return undefined;
    times.push(now);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const i = times.lastIndexOf(now);
        if (i >= 0) times.splice(i, 1);
      },
    };
  }

  /** Runs the rule may still start in the current window. */
  remaining(rule: string, limit: number): number {
    const since = this.now() - BREAKER_WINDOW_MS;
    return Math.max(0, limit - (this.starts.get(rule) ?? []).filter((t) => t > since).length);
  }
}
