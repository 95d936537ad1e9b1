/**
 * Failed logins per (username, client address) in a sliding window, in memory: enough for one server
 * process; a restart forgets (an attacker gains one window, not a bypass). Successful logins reset it.
 */
export class LoginRateLimit {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly max = 10,
    private readonly windowMs = 15 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until another try is allowed, or 0. */
  retryAfter(key: string): number {
    const t = this.now();
    const recent = (this.failures.get(key) ?? []).filter((at) => at > t - this.windowMs);
    if (recent.length) this.failures.set(key, recent);
    else this.failures.delete(key);
    return recent.length >= this.max ? recent[0]! + this.windowMs - t : 0;
  }

  fail(key: string): void {
    const list = this.failures.get(key) ?? [];
    list.push(this.now());
    this.failures.set(key, list);
    // bound the memory an attacker cycling usernames can take
    if (this.failures.size > 100_000) this.failures.delete(this.failures.keys().next().value!);
  }

  succeed(key: string): void {
    this.failures.delete(key);
  }
}
