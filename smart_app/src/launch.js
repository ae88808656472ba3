// /smart/launch.html: start SMART App Launch with the official client (fhirclient).
// EHR launch: the EHR opens launch.html?iss=...&launch=... ; fhirclient discovers the
// endpoints in {iss}/.well-known/smart-configuration and sends the authorization-code
// request with PKCE (S256, required). Standalone on an open FHIR server (the demo):
// launch.html?fhirServiceUrl=...&patientId=... (no authorization server involved).

import FHIR from "fhirclient";
import { DEFAULT_CLIENT_ID, SCOPES } from "./config.js";

const status = document.getElementById("status");

FHIR.oauth2
  .authorize({
    clientId: DEFAULT_CLIENT_ID,
    scope: SCOPES,
    redirectUri: "index.html",
    pkceMode: "required",
  })
  .catch((error) => {
    status.textContent = `The launch failed: ${error.message}`;
    status.classList.add("error");
    console.error("launch failed", error.message);
  });
