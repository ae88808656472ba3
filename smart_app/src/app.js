// /smart/index.html: after the authorization (or a standalone open-server launch), read
// the patient's resources with the app's own token, send them as one Bundle to the
// service's patient-model endpoint, and draw the answer. Nothing is stored.

import FHIR from "fhirclient";
import { parse, View } from "vega";
import { expressionInterpreter } from "vega-interpreter";
import { compile } from "vega-lite";
import { PATIENT_MODEL_URL, REFERENCED, SEARCHES } from "./config.js";
import { lanes } from "./lanes.js";
import { timelineSpec } from "./spec.js";
import { keyboardNavigation, laneTables } from "./tables.js";
import { tooltipHandler } from "./tooltip.js";

const $ = (id) => document.getElementById(id);

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

/** Every resource of the patient the app may read; what could not be read, said so. */
async function readRecord(client) {
  const patientId = client.patient.id;
  if (!patientId) throw new Error("the launch gave no patient");
  const resources = [await client.patient.read()];
  const unread = [];
  for (const [type, parameter, extra = ""] of SEARCHES) {
    try {
      const found = await client.request(
        `${type}?${parameter}=${encodeURIComponent(patientId)}${extra}`,
        { pageLimit: 0, flat: true },
      );
      resources.push(...found.filter((r) => r && r.resourceType === type));
    } catch (error) {
      unread.push({ type, reason: error.status ? `HTTP ${error.status}` : "not readable" });
    }
  }
  for (const reference of referenced(resources)) {
    try {
      resources.push(await client.request(reference));
    } catch (error) {
      unread.push({ type: reference, reason: error.status ? `HTTP ${error.status}` : "not readable" });
    }
  }
  return { resources, unread };
}

/** Relative references (Type/id) to Medication and Specimen resources not yet read. */
function referenced(resources) {
  const have = new Set(resources.map((r) => `${r.resourceType}/${r.id}`));
  const wanted = new Set();
  for (const resource of resources) {
    for (const [type, fields] of Object.entries(REFERENCED)) {
      for (const field of fields) {
        const values = [resource[field]].flat().filter(Boolean);
        for (const value of values) {
          const ref = value.reference ?? "";
          if (new RegExp(`^${type}/[A-Za-z0-9.-]{1,64}$`).test(ref) && !have.has(ref)) wanted.add(ref);
        }
      }
    }
  }
  return [...wanted];
}

/** The service's patient model. The token, the FHIR base and the patient go along so that
 * the service can check the token with the FHIR server (required in production). */
async function patientModel(client, resources) {
  const bundle = {
    resourceType: "Bundle",
    type: "collection",
    entry: resources.map((resource) => ({ resource })),
  };
  const headers = {
    "Content-Type": "application/fhir+json",
    Accept: "application/json",
    "X-SMART-Iss": client.state.serverUrl,
    "X-SMART-Patient": client.patient.id,
  };
  const token = client.state.tokenResponse?.access_token;
  if (token) headers.Authorization = `Bearer ${token}`;
  const answer = await fetch(PATIENT_MODEL_URL, {
    method: "POST",
    headers,
    body: JSON.stringify(bundle),
    credentials: "same-origin",
  });
  if (!answer.ok) {
    let reason = "";
    try {
      reason = (await answer.json()).issue?.[0]?.diagnostics ?? "";
    } catch {
      // not an OperationOutcome: the status says enough
    }
    throw new Error(`the service answered ${answer.status}${reason ? `: ${reason}` : ""}`);
  }
  return answer.json();
}

function listItems(list, items) {
  list.replaceChildren(
    ...items.map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }),
  );
  list.closest("section").hidden = items.length === 0;
}

function showHeader(l, answer, unread) {
  const demographics = answer.patient?.demographics ?? {};
  const received = Object.entries(l.received)
    .map(([type, count]) => `${type} ${count}`)
    .join(", ");
  $("summary").textContent =
    `As of ${l.asOf}. Sex ${demographics.sex ?? "not recorded"}, born ${demographics.birth_date ?? "not recorded"}. ` +
    `Resources read: ${received || "none"}.`;
  listItems($("issues"), [
    ...unread.map((u) => `${u.type}: could not be read (${u.reason}); its facts are unknown, not absent.`),
    ...l.unavailable.map((u) => `${u}: not available to the service; unknown, not absent.`),
    ...l.dataIssues.map(
      (i) => `${i.resource_type}${i.resource_id ? `/${i.resource_id}` : ""}: ${i.reason}`,
    ),
  ]);
}

async function draw(l) {
  const container = $("timeline");
  const width = Math.max(560, Math.min(1180, container.clientWidth) - 200);
  const spec = compile(timelineSpec(l, width)).spec;
  const view = new View(parse(spec, null, { ast: true }), {
    expr: expressionInterpreter,
    renderer: "svg",
    container,
    hover: true,
  });
  view.tooltip(tooltipHandler($("tooltip")));
  await view.runAsync();
  return view;
}

async function main() {
  keyboardNavigation($("lanes"));
  setStatus("Connecting to the EHR…");
  const client = await FHIR.oauth2.ready();
  setStatus("Reading the record…");
  const { resources, unread } = await readRecord(client);
  setStatus(`Read ${resources.length} resources; building the patient model…`);
  const answer = await patientModel(client, resources);
  const l = lanes(answer);
  showHeader(l, answer, unread);
  $("lanes").replaceChildren(...laneTables(l));
  await draw(l);
  setStatus("");
  document.body.dataset.state = "drawn";
}

main().catch((error) => {
  setStatus(`The HER2 journey could not be drawn: ${error.message}`, true);
  document.body.dataset.state = "failed";
  console.error("the app failed", error.message);
});
