// What the app asks for at launch. One place, read by launch.js and the README.

/** Patient-scoped read scopes (SMART App Launch 2.0 v2 syntax), plus launch context. */
export const SCOPES = [
  "launch",
  "openid",
  "fhirUser",
  "patient/Patient.rs",
  "patient/Condition.rs",
  "patient/Observation.rs",
  "patient/MedicationRequest.rs",
  "patient/MedicationStatement.rs",
  "patient/MedicationAdministration.rs",
  "patient/Procedure.rs",
  "patient/DiagnosticReport.rs",
  "patient/AdverseEvent.rs",
  "patient/Medication.rs",
  "patient/Specimen.rs",
].join(" ");

/** The client id a site registers; `?clientId=` on the launch URL overrides it. */
export const DEFAULT_CLIENT_ID = "her2-journey";

/** The searches the app runs for the patient: the same as the hooks' prefetch templates
 * (cds_service/discovery.py), so that the app and the cards read the same record. */
export const SEARCHES = [
  ["Condition", "patient"],
  ["Observation", "patient"],
  ["MedicationRequest", "patient", "&intent=order"],
  ["MedicationStatement", "patient"],
  ["MedicationAdministration", "patient"],
  ["Procedure", "patient"],
  ["DiagnosticReport", "patient"],
  ["AdverseEvent", "subject"],
];

/** The service's endpoint, relative to the app page (/smart/index.html). */
export const PATIENT_MODEL_URL = "patient-model";

/** Resources the mapping reads through references: a medication, a variant's specimen. */
export const REFERENCED = {
  Medication: ["medicationReference"],
  Specimen: ["specimen"],
};
