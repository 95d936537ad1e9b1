/**
 * Cross-process wake-ups on PostgreSQL: a transaction that makes work ready (or finishes a run) sends
 * NOTIFY on the schema's channel, delivered at commit; every process LISTENs on one dedicated connection
 * and wakes its workers and waiters at once. Polling stays as the fallback (a missed notification costs
 * one poll interval, never correctness).
 *
 * The LISTEN connection is outside the query pool: a process holds at most poolSize + 1 connections. It
 * is opened on the first subscription only (CLI commands that just read never open it). When it drops
 * (PostgreSQL restarted, backend terminated) it reconnects by itself with exponential backoff and full
 * jitter (0.2 s doubling to 10 s): many processes losing the database together come back spread out,
 * not as a reconnect storm. After a reconnect every subscriber is woken once, for what it may have missed.
 *
 * LISTEN is session state: through a transaction pooler (`?pgbouncer=true`) it would sit on a server
 * connection that the pooler lends to other clients, and notifications would go nowhere. There the LISTEN
 * connection goes straight to PostgreSQL (SLUICE_DATABASE_DIRECT_URL); without one, nothing listens and
 * processes find each other's work by polling (every second: workers, schedulers, run waiters). NOTIFY is
 * sent either way — it is part of the transaction, and other processes may have a direct connection.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { PostgresTarget } from "./postgres.js";

const MIN_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 10_000;

export class PgNotifier {
  /** Payload of this process's notifications: its own are not echoed back to it. */
  readonly senderId = randomBytes(6).toString("hex");
  readonly channel: string;
  private readonly listeners = new Set<() => void>();
  private client: pg.Client | null = null;
  private connecting = false;
  private closed = false;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Connections opened so far (tests check reconnects are bounded). */
  connects = 0;

  /**
   * `schema`: the store's (it names the channel); `target`: where to LISTEN (store/postgres.ts
   * listenTarget), or null for none.
   */
  constructor(
    schema: string | null,
    private readonly target: PostgresTarget | null,
  ) {
    this.channel = schema ? `sluice_wake_${schema}`.toLowerCase() : "sluice_wake";
  }

  /** Whether this process hears other processes' commits (false: it polls only). */
  get canListen(): boolean {
    return this.target !== null;
  }

  /** Call `cb` when another process may have made work ready; returns an unsubscribe function. */
  subscribe(cb: () => void): () => void {
    this.listeners.add(cb);
    if (this.target && !this.client && !this.connecting && !this.timer) void this.connect();
    return () => this.listeners.delete(cb);
  }

  get listening(): boolean {
    return this.client !== null;
  }

  private async connect(): Promise<void> {
    if (this.closed || !this.target) return;
    this.connecting = true;
    const client = new pg.Client({ ...this.target.config });
    let dropped = false;
    const drop = () => {
      if (dropped) return;
      dropped = true;
      if (this.client === client) this.client = null;
      client.end().catch(() => undefined);
      this.retryLater();
    };
    client.on("error", drop);
    client.on("end", drop);
    client.on("notification", (n) => {
      if (n.payload !== this.senderId) this.wakeAll();
    });
    try {
      await client.connect();
      this.connects++;
      await client.query(`listen "${this.channel}"`);
      if (this.closed || dropped) {
        await client.end().catch(() => undefined);
        return;
      }
      this.client = client;
      const recovered = this.failures > 0;
      this.failures = 0;
      // notifications sent while we were away are lost: let everyone look once
      if (recovered) this.wakeAll();
    } catch {
      drop();
    } finally {
      this.connecting = false;
    }
  }

  private retryLater(): void {
    if (this.closed || this.timer) return;
    this.failures++;
    const cap = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** Math.min(this.failures - 1, 10));
    const delay = Math.max(MIN_BACKOFF_MS / 2, Math.random() * cap);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
    this.timer.unref();
  }

  private wakeAll(): void {
    for (const cb of this.listeners) {
      try {
        cb();
      } catch {
        // a subscriber's failure is its own
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const c = this.client;
    this.client = null;
    if (c) {
      c.removeAllListeners("end");
      c.on("error", () => undefined);
      await c.end().catch(() => undefined);
    }
  }
}
