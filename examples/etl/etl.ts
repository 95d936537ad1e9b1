/**
 * etl — the classic extract → validate → transform → load, on a small CSV of shop orders.
 *
 *   count_lines ─┐
 *   extract ─────┴→ validate → transform.by_region ─┬→ load
 *                            → transform.by_month  ─┘
 *
 * Shows: typed data flow between tasks, params with defaults, retries and timeouts for every task, a
 * shell task, and a task group.
 *
 *   npx sluice --dags examples run etl
 *   npx sluice --dags examples run etl --param minAmount=50
 */
import { readFile, mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { dag } from "sluice";
import { z } from "zod";

const SOURCE = new URL("./data/orders.csv", import.meta.url);

interface Order {
  orderId: string;
  date: string; // YYYY-MM-DD
  region: string;
  product: string;
  quantity: number;
  /** Money as whole cents, so sums are exact. */
  amountCents: number;
}

interface Bucket {
  key: string;
  orders: number;
  revenueCents: number;
}

export default dag(
  "etl",
  {
    description: "Daily sales: validate raw orders, aggregate revenue by region and month, write a report",
    owner: "data-team",
    tags: ["etl", "example"],
    // one run per day, for the previous day (its data interval); `npm start` runs the latest one at once
    schedule: "@daily",
    params: z.object({
      /** Orders worth less than this (in currency units) are left out of the aggregates. */
      minAmount: z.number().min(0).default(0),
      /** Fail the run, rather than load a report, when more than this share of rows is invalid. */
      maxRejectRate: z.number().min(0).max(1).default(0.1),
    }),
    // Every task gets these unless it says otherwise: flaky sources get retried, hung ones time out.
    defaults: { retries: 2, retryDelay: "1s", timeout: "1m" },
  },
  (d) => {
    // An independent count of the file's lines, from a plain Unix tool: validate reconciles against it,
    // so a parser that silently loses rows fails the run. (The output of a shell task is its last
    // line of stdout, here "301 data/orders.csv".)
    const lineCount = d.shell("count_lines", { command: "wc", args: ["-l", "data/orders.csv"] });

    const records = d.task("extract", async (_, ctx) => {
      const [header, ...lines] = (await readFile(SOURCE, "utf8")).split("\n").filter((l) => l.trim() !== "");
      const columns = parseCsvLine(header!);
      ctx.log.info(`read ${lines.length} rows with columns ${columns.join(", ")}`);
      // line: the row's line number in the file, for error messages
      return lines.map((text, i) => ({ line: i + 2, fields: Object.fromEntries(parseCsvLine(text).map((v, j) => [columns[j] ?? `col${j}`, v.trim()])) }));
    });

    // Row-level checks: bad rows are set aside with a reason (and counted), not loaded. No retries here:
    // bad data does not get better by trying again.
    const validated = d.task("validate", { inputs: { records, lineCount }, retries: 0 }, async ({ records, lineCount }, ctx) => {
      const expected = Number.parseInt(lineCount, 10) - 1; // minus the header
      if (records.length !== expected) throw new Error(`extract returned ${records.length} rows but the file has ${expected}`);
      const orders: Order[] = [];
      const rejected: { line: number; reason: string }[] = [];
      const seen = new Set<string>();
      for (const r of records) {
        const f = r.fields;
        const reason = rejectReason(f, seen);
        if (reason) {
          rejected.push({ line: r.line, reason });
          continue;
        }
        seen.add(f["order_id"]!);
        orders.push({
          orderId: f["order_id"]!,
          date: f["order_date"]!,
          region: f["region"]!,
          product: f["product"]!,
          quantity: Number(f["quantity"]),
          amountCents: Number(f["quantity"]) * Math.round(Number(f["unit_price"]) * 100),
        });
      }
      for (const x of rejected) ctx.log.warn(`line ${x.line}: ${x.reason}`);
      const rate = rejected.length / records.length;
      if (rate > ctx.params.maxRejectRate) {
        throw new Error(`${(rate * 100).toFixed(1)}% of rows are invalid (limit ${ctx.params.maxRejectRate * 100}%): fix the source`);
      }
      ctx.log.info(`${orders.length} valid orders, ${rejected.length} rejected`);
      return { orders, rejected };
    });

    // Two aggregations of the same clean data, grouped so the UI shows them as one step.
    const { byRegion, byMonth } = d.group("transform", (g) => ({
      byRegion: g.task("by_region", { inputs: { validated } }, async ({ validated }, ctx) =>
        aggregate(validated.orders, ctx.params.minAmount, (o) => o.region),
      ),
      byMonth: g.task("by_month", { inputs: { validated } }, async ({ validated }, ctx) =>
        aggregate(validated.orders, ctx.params.minAmount, (o) => o.date.slice(0, 7)),
      ),
    }));

    // Each run writes to its own folder, so reruns and backfills never overwrite each other's results.
    d.task("load", { inputs: { validated, byRegion, byMonth } }, async ({ validated, byRegion, byMonth }, ctx) => {
      const dir = resolve(process.env["SLUICE_HOME"] ?? ".sluice", "outputs", ctx.dagId, ctx.runId);
      await mkdir(dir, { recursive: true });
      const money = (cents: number) => Math.round(cents) / 100;
      const rows = (buckets: Bucket[]) => buckets.map((b) => ({ key: b.key, orders: b.orders, revenue: money(b.revenueCents) }));
      const summary = {
        validOrders: validated.orders.length,
        rejectedOrders: validated.rejected.length,
        minAmount: ctx.params.minAmount,
        ordersCounted: byRegion.reduce((s, b) => s + b.orders, 0),
        totalRevenue: money(byRegion.reduce((s, b) => s + b.revenueCents, 0)),
        byRegion: rows(byRegion),
        byMonth: rows(byMonth),
        rejected: validated.rejected,
      };
      await writeFile(join(dir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
      await writeFile(join(dir, "revenue_by_region.csv"), ["region,orders,revenue", ...summary.byRegion.map((r) => `${r.key},${r.orders},${r.revenue.toFixed(2)}`)].join("\n") + "\n");
      ctx.log.info(`wrote ${dir}: ${summary.ordersCounted} orders, revenue ${summary.totalRevenue.toFixed(2)}`);
      const { rejected: _rejected, ...result } = summary; // the run's output: the summary without the row list
      return { ...result, outputDir: dir };
    });
  },
);

/** Why a raw row cannot be loaded, or null when it is fine. */
function rejectReason(f: Record<string, string>, seen: Set<string>): string | null {
  const text = (k: string) => f[k] ?? "";
  if (!text("order_id")) return "missing order_id";
  if (seen.has(text("order_id"))) return `duplicate order_id ${text("order_id")}`;
  if (!isCalendarDate(text("order_date"))) return `bad order_date "${text("order_date")}" (want YYYY-MM-DD)`;
  if (!text("region")) return "missing region";
  if (!text("product")) return "missing product";
  if (!/^\d+$/.test(text("quantity")) || Number(text("quantity")) < 1) return `bad quantity "${text("quantity")}" (want a whole number ≥ 1)`;
  const price = Number(text("unit_price"));
  if (text("unit_price") === "" || !Number.isFinite(price) || price <= 0) return `bad unit_price "${text("unit_price")}"`;
  return null;
}

/** True for a real date written YYYY-MM-DD (so 2024-02-30 is rejected, not rolled over to March). */
function isCalendarDate(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

function aggregate(orders: Order[], minAmount: number, keyOf: (o: Order) => string): Bucket[] {
  const buckets = new Map<string, Bucket>();
  for (const o of orders) {
    if (o.amountCents < minAmount * 100) continue;
    const key = keyOf(o);
    const b = buckets.get(key) ?? { key, orders: 0, revenueCents: 0 };
    b.orders += 1;
    b.revenueCents += o.amountCents;
    buckets.set(key, b);
  }
  return [...buckets.values()].sort((a, b) => a.key.localeCompare(b.key));
}

/** One CSV line: comma-separated, fields optionally in double quotes ("" is a literal quote). */
function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') field += line[i++];
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      out.push(field);
      field = "";
    } else field += c;
  }
  out.push(field.replace(/\r$/, ""));
  return out;
}
