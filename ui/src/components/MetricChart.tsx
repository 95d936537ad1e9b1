/**
 * One metric's series for many trials, drawn by uPlot on a canvas (docs/decisions/0033: chosen for 100
 * trials × 10,000 points). The series arrive downsampled by the server (`maxPoints`) and are aligned on
 * one x array (chartData.ts). The plot is rebuilt when its series change (cheap next to drawing) and
 * resized with its box. uPlot's own legend is off: the comparison table is the legend (a colour swatch per
 * selected row), and hover shows the step and the value under the cursor here.
 * `data-series` (series given) and `data-drawn` (series in the last draw) on the box tell tests and the
 * bench what was drawn; each draw is measured as the User Timing `sluice:chart` (from the plot's creation).
 */
import { useEffect, useMemo, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { alignSeries } from "../chartData";

export interface ChartSeries {
  key: string;
  label: string;
  color: string;
  steps: readonly number[];
  values: readonly number[];
}

export function MetricChart({ metric, series, height = 320 }: { metric: string; series: readonly ChartSeries[]; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  // how many series the last draw showed: tests and the bench wait for the draw of the series they chose
  const [drawn, setDrawn] = useState(0);
  const [hover, setHover] = useState<{ step: number; label: string; value: number } | null>(null);
  const data = useMemo(() => alignSeries(series), [series]);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const start = performance.now();
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: false },
      scales: { x: { time: false } },
      axes: [{ label: "step" }, { label: metric, size: 60 }],
      cursor: { drag: { x: true, y: false }, points: { show: false } },
      series: [{ label: "step" }, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.25, spanGaps: true, points: { show: false } }))],
      hooks: {
        draw: [
          (u) => {
            performance.measure("sluice:chart", { start });
            setDrawn(u.series.length - 1);
          },
        ],
        setCursor: [
          (u) => {
            const i = u.cursor.idx;
            if (i === null || i === undefined || u.cursor.left === undefined || u.cursor.left < 0) return setHover(null);
            // the series nearest the cursor's height at that step
            const y = u.posToVal(u.cursor.top ?? 0, "y");
            let best: { label: string; value: number } | null = null;
            for (let s = 1; s < u.data.length; s++) {
              const v = u.data[s]![i];
              if (v === null || v === undefined) continue;
              if (!best || Math.abs(v - y) < Math.abs(best.value - y)) best = { label: series[s - 1]!.label, value: v };
            }
            setHover(best ? { step: u.data[0][i]!, ...best } : null);
          },
        ],
      },
    };
    const u = new uPlot(opts, data as uPlot.AlignedData, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [data, series, metric, height]);

  return (
    <div className="metric-chart">
      <div ref={box} data-testid="metric-chart" data-metric={metric} data-series={series.length} data-drawn={drawn} />
      <div className="small muted chart-hover" data-testid="chart-hover">
        {hover ? `step ${hover.step}: ${hover.label} = ${hover.value}` : "Hover the chart for values; drag to zoom, double-click to reset."}
      </div>
    </div>
  );
}
