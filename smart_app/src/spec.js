// The Vega-Lite specification of the timeline: five lanes stacked on one time axis.
// Every mark carries a tooltip with the FHIR references it came from ("FHIR source").

import thresholds from "./thresholds.json";
import {
  LINE_CLASS_COLOURS,
  LINE_CLASS_LABELS,
  MOLECULAR_COLOURS,
  sourcesText,
  time,
} from "./lanes.js";

const DAY = 86400000;
const YEAR = 365.25 * DAY;
const SOURCE = "FHIR source";
const TEXT = "#1a1a1a";
const DOSE_COLOUR = "#D55E00";
const THRESHOLD_COLOUR = "#555555";

function timeDomain(l) {
  const dates = [
    l.asOf,
    ...l.molecular.map((r) => r.date),
    ...l.lines.flatMap((r) => [r.start, r.end, r.progressionDate]),
    ...l.ild.flatMap((r) => [r.onset, r.resolved]),
    ...l.lvef.map((r) => r.date),
    ...l.anc.map((r) => r.date),
    ...l.tdxdDoses.map((r) => r.date),
  ]
    .filter(Boolean)
    .map(time);
  const first = Math.min(...dates);
  const last = Math.max(...dates);
  const pad = Math.max(14 * DAY, (last - first) * 0.04);
  return [first - pad, last + pad];
}

function x(domain, showAxis) {
  const span = domain[1] - domain[0];
  return {
    field: "t",
    type: "temporal",
    scale: { type: "utc", domain },
    axis: {
      // Month ticks (every 3 months past 18 months, yearly past 6 years), UTC like the data.
      tickCount: { interval: "month", step: span > 6 * YEAR ? 12 : span > 1.5 * YEAR ? 3 : 1 },
      title: null,
      grid: true,
      ...(showAxis
        ? { format: span > 6 * YEAR ? "%Y" : "%b %Y", labelFontSize: 12, labelOverlap: true }
        : { labels: false, ticks: false, domain: false }),
    },
  };
}

function emptyLayer(domain, text) {
  return {
    data: { values: [{ t: (domain[0] + domain[1]) / 2, text }] },
    mark: { type: "text", fontSize: 13, fontStyle: "italic", color: "#444444" },
    encoding: { x: { field: "t", type: "temporal" }, text: { field: "text" } },
  };
}

function asOfLayer(l) {
  return {
    data: { values: [{ t: time(l.asOf), label: `as of ${l.asOf}` }] },
    mark: { type: "rule", color: "#000000", strokeDash: [2, 2], strokeWidth: 1 },
    encoding: { x: { field: "t", type: "temporal" }, tooltip: [{ field: "label", title: "Today" }] },
  };
}

function molecularLane(l, domain) {
  const dated = l.molecular.filter((r) => r.date);
  const values = dated.map((r) => ({
    t: time(r.date),
    kind: r.kind,
    result: r.result,
    detail: r.detail,
    specimen: r.specimen,
    date: r.date,
    src: sourcesText(r.sources),
  }));
  const layers = [asOfLayer(l)];
  if (values.length) {
    layers.push({
      data: { values },
      mark: { type: "point", filled: true, size: 160, stroke: "#000000", strokeWidth: 1 },
      encoding: {
        x: { field: "t", type: "temporal" },
        y: { field: "kind", type: "nominal", title: null, axis: { labelLimit: 170 } },
        color: {
          field: "kind",
          type: "nominal",
          legend: null,
          scale: { domain: Object.keys(MOLECULAR_COLOURS), range: Object.values(MOLECULAR_COLOURS) },
        },
        shape: { field: "kind", type: "nominal", legend: null },
        tooltip: [
          { field: "kind", title: "Result" },
          { field: "result", title: "Finding" },
          { field: "detail", title: "Detail" },
          { field: "specimen", title: "Specimen" },
          { field: "date", title: "Date" },
          { field: "src", title: SOURCE },
        ],
      },
    });
  } else {
    layers.push(emptyLayer(domain, "No dated HER2 result recorded (not a negative result)"));
  }
  return lane("Molecular results", "HER2 / ERBB2 results by date", layers, domain, values.length);
}

function linesLane(l, domain) {
  const dated = l.lines.filter((r) => r.start);
  const end = (r) => (r.end ? time(r.end) : time(l.asOf));
  const values = dated.map((r) => ({
    t: time(r.start),
    t2: Math.max(end(r), time(r.start) + DAY),
    label: r.label,
    drugs: r.drugs,
    cls: r.classLabel,
    start: r.start,
    end: r.end ?? "ongoing (no end recorded)",
    stop: r.stopReasons.join("; ") || "not recorded",
    progression: r.progressed ? (r.progressionDate ?? "date not recorded") : "none recorded",
    src: sourcesText(r.sources),
  }));
  const progression = dated
    .filter((r) => r.progressed && r.progressionDate)
    .map((r) => ({
      t: time(r.progressionDate),
      label: r.label,
      date: r.progressionDate,
      src: sourcesText(r.progressionSources),
    }));
  const notes = dated
    .filter((r) => r.ongoing || r.stopReasons.length)
    .map((r) => ({
      t: end(r),
      label: r.label,
      text: [r.ongoing ? "ongoing" : "", r.stopReasons.length ? `stop reason: ${r.stopReasons.join("; ")}` : ""]
        .filter(Boolean)
        .join("; "),
    }));
  const y = { field: "label", type: "nominal", title: null, sort: dated.map((r) => r.label) };
  const layers = [asOfLayer(l)];
  if (values.length) {
    const classes = Object.keys(LINE_CLASS_LABELS);
    layers.push(
      {
        data: { values },
        mark: { type: "bar", height: 24, fillOpacity: 0.3, strokeWidth: 2, cornerRadius: 2 },
        encoding: {
          x: { field: "t", type: "temporal" },
          x2: { field: "t2" },
          y,
          color: {
            field: "cls",
            type: "nominal",
            title: "Line class",
            scale: {
              domain: classes.map((c) => LINE_CLASS_LABELS[c]),
              range: classes.map((c) => LINE_CLASS_COLOURS[c]),
            },
            legend: { orient: "top", direction: "horizontal", labelFontSize: 12, labelLimit: 260, columns: 4 },
          },
          stroke: {
            field: "cls",
            type: "nominal",
            legend: null,
            scale: {
              domain: classes.map((c) => LINE_CLASS_LABELS[c]),
              range: classes.map((c) => LINE_CLASS_COLOURS[c]),
            },
          },
          tooltip: [
            { field: "label", title: "Line" },
            { field: "drugs", title: "Drugs" },
            { field: "cls", title: "Class" },
            { field: "start", title: "Start" },
            { field: "end", title: "End" },
            { field: "stop", title: "Stop reason" },
            { field: "progression", title: "Progression" },
            { field: "src", title: SOURCE },
          ],
        },
      },
      {
        data: { values },
        mark: { type: "text", align: "left", dx: 6, fontSize: 12, color: TEXT },
        encoding: { x: { field: "t", type: "temporal" }, y, text: { field: "drugs" } },
      },
    );
    if (progression.length) {
      layers.push({
        data: { values: progression },
        mark: { type: "point", shape: "triangle-down", filled: true, size: 170, color: "#000000", yOffset: -14 },
        encoding: {
          x: { field: "t", type: "temporal" },
          y,
          tooltip: [
            { field: "label", title: "Progression on" },
            { field: "date", title: "Date" },
            { field: "src", title: SOURCE },
          ],
        },
      });
    }
    if (notes.length) {
      layers.push({
        data: { values: notes },
        mark: { type: "text", align: "right", dx: -6, dy: 20, fontSize: 11, fontStyle: "italic", color: TEXT },
        encoding: { x: { field: "t", type: "temporal" }, y, text: { field: "text" } },
      });
    }
  } else {
    layers.push(emptyLayer(domain, "No line of anticancer therapy recorded"));
  }
  return lane("Lines of therapy", "bars from start to end; triangles: progression", layers, domain, values.length);
}

function ildLane(l, domain) {
  const dated = l.ild.filter((r) => r.onset);
  const values = dated.map((r, index) => ({
    t: time(r.onset),
    t2: Math.max(r.resolved ? time(r.resolved) : time(l.asOf), time(r.onset) + DAY),
    label: `Episode ${index + 1}`,
    grade: r.grade,
    onset: r.onset,
    resolved: r.resolved ?? "not resolved (no end recorded)",
    cause: r.cause,
    src: sourcesText(r.sources),
  }));
  const y = { field: "label", type: "nominal", title: null };
  const layers = [asOfLayer(l)];
  if (values.length) {
    layers.push(
      {
        data: { values },
        mark: { type: "bar", height: 20, color: "#E69F00", stroke: "#000000", strokeWidth: 1 },
        encoding: {
          x: { field: "t", type: "temporal" },
          x2: { field: "t2" },
          y,
          tooltip: [
            { field: "label", title: "ILD / pneumonitis" },
            { field: "grade", title: "Grade" },
            { field: "onset", title: "Onset" },
            { field: "resolved", title: "Resolved" },
            { field: "cause", title: "Cause" },
            { field: "src", title: SOURCE },
          ],
        },
      },
    );
    // The grade above the bar's start; for an episode near the right edge, ending there.
    const nearEnd = domain[1] - (domain[1] - domain[0]) * 0.15;
    for (const [align, subset] of [
      ["left", values.filter((v) => v.t < nearEnd)],
      ["right", values.filter((v) => v.t >= nearEnd)],
    ]) {
      if (!subset.length) continue;
      layers.push({
        data: { values: subset },
        mark: { type: "text", align, dx: align === "left" ? 4 : -4, dy: -16, fontSize: 12, fontWeight: "bold", color: TEXT },
        encoding: { x: { field: align === "left" ? "t" : "t2", type: "temporal" }, y, text: { field: "grade" } },
      });
    }
  } else {
    layers.push(emptyLayer(domain, "No ILD / pneumonitis episode recorded"));
  }
  return lane("ILD / pneumonitis", "episodes from onset to resolution, with grade", layers, domain, values.length);
}

function doseLayer(l) {
  const values = l.tdxdDoses
    .filter((r) => r.date)
    .map((r) => ({ t: time(r.date), date: r.date, dose: r.dose, record: r.record, src: sourcesText(r.sources) }));
  if (!values.length) return [];
  return [
    {
      data: { values },
      mark: { type: "rule", color: DOSE_COLOUR, strokeWidth: 2, opacity: 0.7 },
      encoding: {
        x: { field: "t", type: "temporal" },
        strokeDash: {
          field: "record",
          type: "nominal",
          legend: null,
          scale: { domain: ["given"], range: [[1, 0]], unknown: [4, 3] },
        },
        tooltip: [
          { field: "date", title: "T-DXd dose" },
          { field: "dose", title: "Dose" },
          { field: "record", title: "Record" },
          { field: "src", title: SOURCE },
        ],
      },
    },
  ];
}

function measurementLane(l, domain, rows, options) {
  const dated = rows.filter((r) => r.date);
  const values = dated.map((r) => ({
    t: time(r.date),
    value: r.value,
    shown: `${r.value} ${options.unit}`,
    date: r.date,
    src: sourcesText(r.sources),
  }));
  const rules = options.thresholds.map((th) => ({ value: th.value, label: th.label }));
  const top = Math.max(options.top, ...values.map((v) => v.value));
  const y = {
    field: "value",
    type: "quantitative",
    title: options.unit,
    scale: { domain: [0, top] },
    axis: { tickCount: 4 },
  };
  const layers = [asOfLayer(l), ...doseLayer(l)];
  layers.push(
    {
      data: { values: rules },
      mark: { type: "rule", color: THRESHOLD_COLOUR, strokeDash: [6, 4], strokeWidth: 1.5 },
      encoding: { y: { ...y, field: "value" }, tooltip: [{ field: "label", title: "Label threshold" }] },
    },
    {
      data: { values: rules.map((r) => ({ ...r, t: domain[0] })) },
      mark: { type: "text", align: "left", dx: 2, dy: -6, fontSize: 10, color: THRESHOLD_COLOUR },
      encoding: { x: { field: "t", type: "temporal" }, y: { ...y, field: "value" }, text: { field: "value" } },
    },
  );
  if (values.length) {
    layers.push(
      {
        data: { values },
        mark: { type: "line", color: "#0072B2", strokeWidth: 2 },
        encoding: { x: { field: "t", type: "temporal" }, y },
      },
      {
        data: { values },
        mark: { type: "point", filled: true, size: 90, color: "#0072B2", stroke: "#000000", strokeWidth: 1 },
        encoding: {
          x: { field: "t", type: "temporal" },
          y,
          tooltip: [
            { field: "shown", title: options.title },
            { field: "date", title: "Date" },
            { field: "src", title: SOURCE },
          ],
        },
      },
      {
        data: { values },
        mark: { type: "text", dy: -12, fontSize: 11, color: TEXT },
        encoding: { x: { field: "t", type: "temporal" }, y, text: { field: "value" } },
      },
    );
  } else {
    layers.push(emptyLayer(domain, `${options.title} not recorded`));
  }
  return lane(options.title, `${options.description}; orange rules: T-DXd doses`, layers, domain, values.length, 110);
}

function lane(title, description, layers, domain, count, height) {
  // One x definition (scale, axis) on every layer that places marks in time.
  const xDef = x(domain, title === "ANC (neutrophils)");
  for (const layer of layers) {
    const field = layer.encoding?.x?.field;
    if (field === "t" || field === "t2") layer.encoding.x = { ...xDef, field };
  }
  return {
    title: { text: title, subtitle: description, anchor: "start", fontSize: 14, subtitleFontSize: 11 },
    description: `${title}: ${count} dated item(s). ${description}.`,
    height: height ?? Math.max(40, 34 * Math.max(1, count)),
    layer: layers,
  };
}

export function timelineSpec(l, width) {
  const domain = timeDomain(l);
  const laneHeightOf = (spec, rows) => ({ ...spec, height: spec.height ?? rows });
  const molecular = molecularLane(l, domain);
  molecular.height = 30 * Math.max(1, new Set(l.molecular.map((r) => r.kind)).size) + 10;
  const lines = linesLane(l, domain);
  lines.height = 46 * Math.max(1, l.lines.length) + 10;
  const ild = ildLane(l, domain);
  ild.height = 34 * Math.max(1, l.ild.length) + 10;
  const lanesOf = [
      laneHeightOf(molecular),
      laneHeightOf(lines),
      laneHeightOf(ild),
      measurementLane(l, domain, l.lvef, {
        title: "LVEF",
        unit: "%",
        top: 80,
        thresholds: thresholds.lvef,
        description: "left ventricular ejection fraction; dashed: label thresholds 50 % and 40 %",
      }),
      measurementLane(l, domain, l.anc, {
        title: "ANC (neutrophils)",
        unit: "10^9/L",
        top: 5,
        thresholds: thresholds.anc,
        description: "absolute neutrophil count; dashed: label thresholds 1.0 and 0.5 x10^9/L",
      }),
  ].map((spec) => ({ ...spec, width }));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    description: "The HER2 journey: molecular results, lines of therapy, ILD episodes, LVEF and ANC on one time axis.",
    spacing: 18,
    vconcat: lanesOf,
    resolve: { scale: { x: "shared", color: "independent", shape: "independent", strokeDash: "independent", stroke: "independent" } },
    config: {
      font: "system-ui, sans-serif",
      view: { stroke: "#bbbbbb" },
      axis: { labelFontSize: 12, titleFontSize: 12 },
      aria: true,
    },
  };
}
