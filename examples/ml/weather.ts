/**
 * The data side of the ML example: reading, validating and featurising daily weather observations
 * (data/weather.csv: NOAA daily summaries for Seattle and New York, 2012–2015, 2,922 rows; see
 * data/README.md). The task: predict the day's weather label (drizzle, fog, rain, snow, sun) from the
 * measurements.
 *
 * Shared by the training DAG (train.ts), the monitoring DAG (monitor.ts) and the model module
 * (weatherModel.ts), so that training and serving featurise a row the same way.
 *
 * (This helper must not mention the orchestrator's name: the DAG loader imports every file that does.)
 */
import { z } from "zod";

/** The columns the file must have, in order. */
export const COLUMNS = ["location", "date", "precipitation", "temp_max", "temp_min", "wind", "weather"] as const;
export const LOCATIONS = ["New York", "Seattle"] as const;
export const CLASSES = ["drizzle", "fog", "rain", "snow", "sun"] as const;

/**
 * The asset the monitoring DAG updates when it sees drift, and the training DAG is scheduled on: the
 * "please retrain" signal between the two.
 */
export const RETRAIN_ASSET = "models/weather_classifier/retrain_request";

/** The registered model's name: ml_train registers it, `models serve` serves it, ml_monitor reads its inference log. */
export const MODEL_NAME = "weather_classifier";

/** The features the monitoring DAG compares between the training reference and recent data. */
export const MONITORED_FEATURES = { precipitation: "numeric", temp_max: "numeric", temp_min: "numeric", wind: "numeric", location: "categorical" } as const;

/** What a model needs of one day: the observation without its label. A prediction request is one of these. */
export interface Observation {
  location: string;
  /** YYYY-MM-DD */
  date: string;
  /** mm */
  precipitation: number;
  /** °C */
  temp_max: number;
  temp_min: number;
  /** m/s */
  wind: number;
}

export interface LabelledObservation extends Observation {
  weather: (typeof CLASSES)[number];
}

/** Schema of one row, checked column by column: a failure names the column. */
const number = (column: string) =>
  z
    .string()
    .trim()
    .min(1, `${column} is empty`)
    .transform((v, ctx) => {
      const n = Number(v);
      if (!Number.isFinite(n)) {
        ctx.addIssue({ code: "custom", message: `${JSON.stringify(v)} is not a number` });
        return z.NEVER;
      }
      return n;
    });

const ROW = z.object({
  location: z.enum(LOCATIONS),
  date: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, "expected YYYY-MM-DD")
    .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d), "not a calendar date"),
  precipitation: number("precipitation"),
  temp_max: number("temp_max"),
  temp_min: number("temp_min"),
  wind: number("wind"),
  weather: z.enum(CLASSES),
});

/**
 * Plausible ranges (data quality, beyond types): a value outside is a broken extract or a unit mix-up
 * (°F in a °C column), not weather.
 */
const RANGES: Record<"precipitation" | "temp_max" | "temp_min" | "wind", [number, number]> = {
  precipitation: [0, 300],
  temp_max: [-40, 50],
  temp_min: [-45, 45],
  wind: [0, 60],
};

/** The file as records of text, one per line after the header; throws when the header is not COLUMNS. */
export function parseCsv(text: string, file: string): Record<string, string>[] {
  const [header, ...lines] = text.replace(/\r\n/g, "\n").trimEnd().split("\n");
  const columns = (header ?? "").split(",");
  if (columns.join() !== COLUMNS.join()) {
    throw new Error(`${file}: header is "${header ?? ""}"; expected "${COLUMNS.join(",")}"`);
  }
  // the file has no quoted fields; a line with another number of fields is reported by validate
  return lines.map((line) => Object.fromEntries(line.split(",").map((v, i) => [columns[i] ?? `extra_${i - columns.length + 1}`, v])));
}

export interface ValidationResult {
  rows: LabelledObservation[];
  /** Count per class, to log. */
  classCounts: Record<string, number>;
}

/**
 * Schema and data-quality checks over every row. Problems are collected (the first 10 are shown, with
 * the total) and thrown as one error naming file, row (1 = the first line after the header), column and
 * value: a broken extract fails the pipeline instead of training a wrong model.
 */
export function validateRows(records: readonly Record<string, string>[], file: string, opts: { minRows: number; minPerClass: number }): ValidationResult {
  const problems: string[] = [];
  const rows: LabelledObservation[] = [];
  const seen = new Map<string, number>();
  records.forEach((record, i) => {
    const where = `${file} row ${i + 1}`;
    const extra = Object.keys(record).filter((k) => !(COLUMNS as readonly string[]).includes(k));
    if (extra.length > 0 || Object.keys(record).length !== COLUMNS.length) {
      problems.push(`${where}: ${Object.keys(record).length} fields; expected ${COLUMNS.length} (${COLUMNS.join(",")})`);
      return;
    }
    const parsed = ROW.safeParse(record);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const column = String(issue.path[0] ?? "?");
        problems.push(`${where}, column ${column}: ${issue.message} (value ${JSON.stringify(record[column])})`);
      }
      return;
    }
    const row = parsed.data;
    for (const [column, [lo, hi]] of Object.entries(RANGES) as [keyof typeof RANGES, [number, number]][]) {
      if (row[column] < lo || row[column] > hi) problems.push(`${where}, column ${column}: ${row[column]} is outside the plausible range [${lo}, ${hi}]`);
    }
    if (row.temp_min > row.temp_max) problems.push(`${where}, column temp_min: ${row.temp_min} is above temp_max ${row.temp_max}`);
    const key = `${row.location} ${row.date}`;
    const first = seen.get(key);
    if (first !== undefined) problems.push(`${where}: duplicate of row ${first} (${key})`);
    else seen.set(key, i + 1);
    rows.push(row);
  });
  const classCounts = Object.fromEntries(CLASSES.map((c) => [c, rows.filter((r) => r.weather === c).length]));
  if (problems.length === 0) {
    if (rows.length < opts.minRows) problems.push(`${file}: ${rows.length} rows; training needs at least ${opts.minRows}`);
    for (const [c, n] of Object.entries(classCounts)) {
      if (n < opts.minPerClass) problems.push(`${file}, column weather: class "${c}" has ${n} rows; each needs at least ${opts.minPerClass}`);
    }
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 10).join("\n  ");
    throw new Error(`${file}: ${problems.length} validation problem${problems.length === 1 ? "" : "s"}:\n  ${shown}${problems.length > 10 ? `\n  … and ${problems.length - 10} more` : ""}`);
  }
  return { rows, classCounts };
}

/** Names of the model's inputs, in the order featurise() returns them. */
export const FEATURE_NAMES = ["precipitation", "log_precipitation", "wet_day", "temp_max", "temp_min", "temp_range", "wind", "seattle", "month_sin", "month_cos"];

/**
 * One observation as model inputs. Precipitation is skewed (most days 0, a few 50 mm), so the model also
 * gets its logarithm and whether it rained at all; the month goes round a circle (December is next to
 * January).
 */
export function featurise(o: Observation): number[] {
  const month = Number(o.date.slice(5, 7));
  const angle = (2 * Math.PI * (month - 1)) / 12;
  return [
    o.precipitation,
    Math.log1p(o.precipitation),
    o.precipitation > 0 ? 1 : 0,
    o.temp_max,
    o.temp_min,
    o.temp_max - o.temp_min,
    o.wind,
    o.location === "Seattle" ? 1 : 0,
    Math.sin(angle),
    Math.cos(angle),
  ];
}
