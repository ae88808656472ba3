// The patient model (the JSON of `python -m fhir_mappings explain`) turned into the rows of
// each lane. Pure functions: no DOM, no network. Dates stay ISO strings ("YYYY-MM-DD");
// `time` is the same instant in milliseconds (UTC) for the chart.

export const TDXD = "trastuzumab deruxtecan";

export const LINE_CLASS_LABELS = {
  platinum: "Platinum-based",
  ici: "Immune checkpoint inhibitor",
  "her2-adc": "HER2 antibody-drug conjugate",
  "her2-tki": "HER2 tyrosine kinase inhibitor",
  "egfr-tki": "EGFR tyrosine kinase inhibitor",
  "egfr-ex20": "EGFR exon 20 therapy",
  other: "Other",
};

/** Okabe-Ito colours (colour-blind safe), one per line class. */
export const LINE_CLASS_COLOURS = {
  platinum: "#0072B2",
  ici: "#009E73",
  "her2-adc": "#D55E00",
  "her2-tki": "#CC79A7",
  "egfr-tki": "#E69F00",
  "egfr-ex20": "#56B4E9",
  other: "#000000",
};

export const MOLECULAR_COLOURS = {
  "ERBB2 mutation": "#D55E00",
  "ERBB2 not detected": "#56B4E9",
  "HER2 IHC": "#CC79A7",
  "HER2 amplification": "#009E73",
};

export function time(iso) {
  return iso ? Date.parse(`${iso}T00:00:00Z`) : null;
}

function sourcesText(sources) {
  return sources && sources.length ? sources.join(", ") : "none recorded";
}

const notRecorded = "not recorded";

export function molecularRows(her2) {
  const rows = [];
  for (const m of her2?.mutations ?? []) {
    rows.push({
      kind: "ERBB2 mutation",
      date: m.date,
      result: m.protein_change || m.notation || notRecorded,
      detail: `class ${m.variant_class}; significance ${m.significance}`,
      specimen: m.specimen,
      sources: m.sources ?? [],
    });
  }
  for (const n of her2?.negative_results ?? []) {
    rows.push({
      kind: "ERBB2 not detected",
      date: n.date,
      result: "no ERBB2 alteration detected",
      detail: "tested negative",
      specimen: n.specimen,
      sources: n.sources ?? [],
    });
  }
  for (const i of her2?.ihc ?? []) {
    rows.push({
      kind: "HER2 IHC",
      date: i.date,
      result: `IHC ${i.score}`,
      detail: "immunohistochemistry",
      specimen: "tissue",
      sources: i.sources ?? [],
    });
  }
  for (const a of her2?.amplification ?? []) {
    const parts = [];
    if (a.ratio != null) parts.push(`ratio ${a.ratio}`);
    if (a.copy_number != null) parts.push(`copy number ${a.copy_number}`);
    rows.push({
      kind: "HER2 amplification",
      date: a.date,
      result: a.positive ? "amplified" : "not amplified",
      detail: parts.join("; ") || "ratio and copy number not recorded",
      specimen: "unknown",
      sources: a.sources ?? [],
    });
  }
  return sortByDate(rows);
}

function sortByDate(rows) {
  return rows.sort((a, b) => (a.date ?? "9999").localeCompare(b.date ?? "9999"));
}

/** Stop reasons of the line's drugs, from the exposures (the line itself has none). */
function stopReasons(line, exposures) {
  const reasons = new Set();
  for (const e of exposures ?? []) {
    if (!line.drugs.includes(e.drug) || !e.stop_reason) continue;
    if (line.start && e.start && e.start < line.start) continue;
    if (line.end && e.start && e.start > line.end) continue;
    reasons.add(`${e.drug}: ${e.stop_reason}${e.stopped_for_ild ? " (ILD/pneumonitis)" : ""}`);
  }
  return [...reasons];
}

export function lineRows(patient) {
  return (patient.lines ?? []).map((line) => ({
    number: line.number,
    label: `Line ${line.number}`,
    drugs: line.drugs.join(" + "),
    lineClass: line.line_class,
    classLabel: LINE_CLASS_LABELS[line.line_class] ?? line.line_class,
    start: line.start,
    end: line.end,
    ongoing: line.end == null,
    progressed: line.progressed,
    progressionDate: line.progression_date,
    progressionSources: line.progression_sources ?? [],
    stopReasons: stopReasons(line, patient.exposures),
    sources: line.sources ?? [],
  }));
}

export function ildRows(patient) {
  return sortByDate(
    (patient.ild_episodes ?? []).map((e) => ({
      date: e.onset,
      onset: e.onset,
      resolved: e.resolved,
      ongoing: e.resolved == null,
      grade: e.grade == null ? "grade not recorded" : `grade ${e.grade}`,
      cause: e.cause_drug ? `${e.cause} (${e.cause_drug})` : (e.cause ?? notRecorded),
      onTdxd: e.on_tdxd,
      sources: e.sources ?? [],
    })),
  );
}

export function measurementRows(patient, kind) {
  return sortByDate(
    (patient.measurements ?? [])
      .filter((m) => m.kind === kind)
      .map((m) => ({
        date: m.date,
        value: m.value,
        unit: m.unit,
        sources: m.sources ?? [],
      })),
  );
}

/** Each dose record of T-DXd: administrations, and the dose of an order or statement. */
export function tdxdDoseRows(patient) {
  const rows = [];
  for (const e of patient.exposures ?? []) {
    if (e.drug !== TDXD) continue;
    for (const d of e.doses ?? []) {
      const type = (d.source ?? "").split("/")[0];
      rows.push({
        date: d.date,
        dose: d.dose ? `${d.dose.value} ${d.dose.unit}` : "dose not recorded",
        record: type === "MedicationAdministration" ? "given" : `recorded (${type || "unknown"})`,
        sources: d.source ? [d.source] : [],
      });
    }
  }
  return sortByDate(rows);
}

/** Everything the view needs, from the endpoint's answer. */
export function lanes(answer) {
  const patient = answer.patient ?? {};
  return {
    asOf: answer.as_of ?? patient.as_of,
    molecular: molecularRows(patient.her2),
    lines: lineRows(patient),
    ild: ildRows(patient),
    lvef: measurementRows(patient, "lvef"),
    anc: measurementRows(patient, "anc"),
    tdxdDoses: tdxdDoseRows(patient),
    dataIssues: answer.data_issues ?? [],
    unavailable: patient.unavailable_data ?? [],
    received: answer.resources_received ?? {},
  };
}

export { sourcesText, notRecorded };
