// The text alternative of every lane: one HTML table each, keyboard navigable (Tab into a
// table, arrow keys between rows, Home/End), every row naming its FHIR sources.

import { notRecorded, sourcesText } from "./lanes.js";

function cell(row, text, header = false) {
  const node = document.createElement(header ? "th" : "td");
  if (header) node.scope = "col";
  node.textContent = text == null || text === "" ? notRecorded : String(text);
  row.append(node);
  return node;
}

/** The FHIR references of a row: all of them, the rest folded after the first two. */
function sourceCell(row, sources) {
  const node = cell(row, sources.length > 3 ? sources.slice(0, 2).join(", ") : sourcesText(sources));
  node.className = "source";
  if (sources.length > 3) {
    const more = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = `and ${sources.length - 2} more`;
    const rest = document.createElement("span");
    rest.textContent = sources.slice(2).join(", ");
    more.append(summary, rest);
    node.append(more);
  }
}

function table(id, caption, columns, rows, emptyText) {
  const section = document.createElement("section");
  section.className = "lane-text";
  section.id = id;
  const heading = document.createElement("h3");
  heading.textContent = caption;
  section.append(heading);
  if (!rows.length) {
    const note = document.createElement("p");
    note.className = "not-recorded";
    note.dataset.lane = id;
    note.textContent = emptyText;
    section.append(note);
    return section;
  }
  const t = document.createElement("table");
  t.dataset.lane = id;
  const head = document.createElement("tr");
  for (const [title] of columns) cell(head, title, true);
  cell(head, "FHIR source", true);
  const thead = document.createElement("thead");
  thead.append(head);
  const tbody = document.createElement("tbody");
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.tabIndex = 0;
    for (const [, value] of columns) cell(tr, value(r));
    sourceCell(tr, r.sources);
    tbody.append(tr);
  }
  t.append(thead, tbody);
  section.append(t);
  return section;
}

export function laneTables(l) {
  const dateOr = (d) => d ?? "date not recorded";
  return [
    table(
      "lane-molecular",
      "Molecular results",
      [
        ["Date", (r) => dateOr(r.date)],
        ["Result", (r) => r.kind],
        ["Finding", (r) => r.result],
        ["Class / detail", (r) => r.detail],
        ["Specimen", (r) => r.specimen],
      ],
      l.molecular,
      "No HER2 / ERBB2 result recorded. Not tested is not the same as negative.",
    ),
    table(
      "lane-lines",
      "Lines of therapy",
      [
        ["Line", (r) => r.number],
        ["Drugs", (r) => r.drugs],
        ["Class", (r) => r.classLabel],
        ["Start", (r) => dateOr(r.start)],
        ["End", (r) => r.end ?? "ongoing (no end recorded)"],
        ["Stop reason", (r) => r.stopReasons.join("; ") || notRecorded],
        ["Progression", (r) => (r.progressed ? (r.progressionDate ?? "date not recorded") : "none recorded")],
      ],
      l.lines,
      "No line of anticancer therapy recorded.",
    ),
    table(
      "lane-ild",
      "ILD / pneumonitis episodes",
      [
        ["Onset", (r) => dateOr(r.onset)],
        ["Resolved", (r) => r.resolved ?? "not resolved (no end recorded)"],
        ["Grade", (r) => r.grade],
        ["Cause", (r) => r.cause],
      ],
      l.ild,
      "No ILD / pneumonitis episode recorded.",
    ),
    table(
      "lane-lvef",
      "LVEF",
      [
        ["Date", (r) => dateOr(r.date)],
        ["LVEF", (r) => `${r.value} ${r.unit ?? ""}`.trim()],
      ],
      l.lvef,
      "No LVEF recorded.",
    ),
    table(
      "lane-anc",
      "ANC (neutrophils)",
      [
        ["Date", (r) => dateOr(r.date)],
        ["ANC", (r) => `${r.value} ${r.unit ?? ""}`.trim()],
      ],
      l.anc,
      "No ANC recorded.",
    ),
    table(
      "lane-tdxd",
      "T-DXd doses",
      [
        ["Date", (r) => dateOr(r.date)],
        ["Dose", (r) => r.dose],
        ["Record", (r) => r.record],
      ],
      l.tdxdDoses,
      "No T-DXd dose recorded.",
    ),
  ];
}

/** Arrow keys move between the rows of one table; Home / End to its first / last row. */
export function keyboardNavigation(root) {
  root.addEventListener("keydown", (event) => {
    const row = event.target.closest?.("tbody tr");
    if (!row) return;
    const rows = [...row.parentElement.children];
    const at = rows.indexOf(row);
    const next = {
      ArrowDown: rows[at + 1],
      ArrowUp: rows[at - 1],
      Home: rows[0],
      End: rows[rows.length - 1],
    }[event.key];
    if (next) {
      next.focus();
      event.preventDefault();
    }
  });
}
