// A SMART on FHIR authorization server for the browser test: oidc-provider (npm, a
// certified OpenID Connect provider, pinned in smart_app/package-lock.json) configured for
// SMART App Launch 2.0, and a FHIR resource server in front of the test's FHIR server that
// accepts only oidc-provider's access tokens. Loopback only; started and stopped by
// tests/browser/test_smart_app.py.
//
// Input: one JSON argument {authPort, fhirPort, upstream, upstreamToken, clientId,
// redirectUri, launches: {launchId: patientId}}. Prints one JSON line when listening:
// {issuer, fhirBase}. On stdout afterwards: one JSON line per event the test checks
// (authorize, token, fhir), never a token or a resource body.
//
// - Discovery: GET {fhirBase}/.well-known/smart-configuration (authorization and token
//   endpoints, PKCE S256, capabilities launch-ehr, client-public, context-ehr-patient,
//   permission-v2).
// - Authorization (oidc-provider): authorization code, public client, PKCE required (S256
//   only), `launch` and `aud` accepted as extra parameters. The EHR's part is played by the
//   `launches` table: an unknown `launch`, or an `aud` other than the FHIR base, is refused.
//   The user is already signed in to the EHR: the interaction signs in a test clinician
//   and grants the requested scopes without a page (no form to automate).
// - Token response: `patient` (the launch's patient) added to oidc-provider's answer.
// - FHIR: every request needs `Authorization: Bearer <access token>` that oidc-provider
//   issued and still knows; the scope must allow the resource type (patient/<Type>.rs or
//   .read), and a search must name the launch's patient; then the request goes to the
//   upstream FHIR server with its own token, and links in the answer name this server.

import { createServer } from "node:http";
import { createRequire } from "node:module";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "..", "smart_app", "package.json"));
const { default: Provider } = await import(pathToFileURL(require.resolve("oidc-provider")).href);

const input = JSON.parse(process.argv[2]);
const issuer = `http://127.0.0.1:${input.authPort}`;
const fhirBase = `http://127.0.0.1:${input.fhirPort}/fhir`;
const launches = new Map(Object.entries(input.launches));
const patientOfGrant = new Map();

const TYPES = [
  "Patient", "Condition", "Observation", "MedicationRequest", "MedicationStatement",
  "MedicationAdministration", "Procedure", "DiagnosticReport", "AdverseEvent", "Medication",
  "Specimen",
];
const SCOPES = ["openid", "fhirUser", "launch", ...TYPES.map((t) => `patient/${t}.rs`)];

function event(record) {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: input.clientId,
      token_endpoint_auth_method: "none",
      redirect_uris: [input.redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
    },
  ],
  scopes: SCOPES,
  claims: { openid: ["sub"], fhirUser: ["fhirUser"] },
  extraParams: ["launch", "aud"],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: [randomBytes(32).toString("hex")] },
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, fhirUser: `${fhirBase}/Practitioner/${sub}` }),
  }),
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
  renderError: async (ctx, out) => {
    ctx.type = "text/plain";
    ctx.body = `authorization error: ${out.error}: ${out.error_description ?? ""}`;
  },
});
provider.proxy = false;

// The token response carries the launch context (SMART: `patient`).
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === "/token" && ctx.body?.access_token) {
    const token = await provider.AccessToken.find(ctx.body.access_token);
    const patient = token && patientOfGrant.get(token.grantId);
    if (patient) ctx.body.patient = patient;
    event({ event: "token", pkce: Boolean(ctx.oidc?.params?.code_verifier), patient: patient ?? null, scope: ctx.body.scope });
  }
});

/** The EHR's part: the user is signed in; the launch and the audience are checked. */
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  const patient = launches.get(params.launch ?? "");
  event({
    event: "authorize",
    prompt: prompt.name,
    launch: Boolean(patient),
    aud: params.aud === fhirBase,
    codeChallengeMethod: params.code_challenge_method ?? null,
  });
  if (!patient || params.aud !== fhirBase) {
    await provider.interactionFinished(req, res, {
      error: "access_denied",
      error_description: !patient ? "unknown launch" : "aud is not this FHIR server",
    });
    return;
  }
  if (prompt.name === "login") {
    await provider.interactionFinished(req, res, { login: { accountId: "test-clinician" } }, { mergeWithLastSubmission: false });
    return;
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  grant.addOIDCClaims(["fhirUser"]);
  const grantId = await grant.save();
  patientOfGrant.set(grantId, patient);
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
const authServer = createServer((req, res) => {
  if (req.url.startsWith("/interaction/")) {
    interaction(req, res).catch((error) => {
      res.statusCode = 500;
      res.end(`interaction failed: ${error.message}`);
    });
    return;
  }
  callback(req, res);
});

// --- The FHIR resource server -----------------------------------------------------------

const CORS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, OPTIONS",
  "Access-Control-Allow-Headers": "Authorization, Accept, Content-Type",
};

function send(res, status, body, type = "application/fhir+json") {
  res.writeHead(status, { ...CORS, "Content-Type": type });
  res.end(typeof body === "string" ? body : JSON.stringify(body));
}

function outcome(code, text) {
  return { resourceType: "OperationOutcome", issue: [{ severity: "error", code, diagnostics: text }] };
}

function smartConfiguration() {
  return {
    issuer,
    authorization_endpoint: `${issuer}/auth`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    grant_types_supported: ["authorization_code"],
    response_types_supported: ["code"],
    token_endpoint_auth_methods_supported: ["none"],
    scopes_supported: SCOPES,
    code_challenge_methods_supported: ["S256"],
    capabilities: ["launch-ehr", "client-public", "context-ehr-patient", "permission-v2", "permission-patient", "sso-openid-connect"],
  };
}

/** Whether the token's scopes and patient allow this FHIR request. */
function allowed(url, scopes, patient) {
  const parts = url.pathname.replace(/^\/fhir\/?/, "").split("/").filter(Boolean);
  const type = parts[0];
  if (!TYPES.includes(type)) return false;
  if (!scopes.has(`patient/${type}.rs`) && !scopes.has(`patient/${type}.read`)) return false;
  if (type === "Patient") return parts[1] === patient || url.searchParams.get("_id") === patient;
  if (parts.length === 2) return true; // a read by id: Medication, Specimen, ...
  const named = url.searchParams.get("patient") ?? url.searchParams.get("subject") ?? "";
  return named === patient || named === `Patient/${patient}`;
}

async function fhir(req, res) {
  const url = new URL(req.url, fhirBase);
  if (req.method === "OPTIONS") return send(res, 204, "");
  if (url.pathname === "/fhir/.well-known/smart-configuration") {
    return send(res, 200, smartConfiguration(), "application/json");
  }
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
  const token = bearer ? await provider.AccessToken.find(bearer) : undefined;
  if (!token || token.isExpired) {
    event({ event: "fhir", path: url.pathname, status: 401 });
    res.setHeader("WWW-Authenticate", 'Bearer realm="fhir"');
    return send(res, 401, outcome("login", "a valid access token is required"));
  }
  const patient = patientOfGrant.get(token.grantId);
  if (!allowed(url, new Set((token.scope ?? "").split(" ")), patient)) {
    event({ event: "fhir", path: url.pathname, status: 403 });
    return send(res, 403, outcome("forbidden", "outside the token's scopes or patient"));
  }
  const upstream = `${input.upstream}${url.pathname.replace(/^\/fhir/, "")}${url.search}`;
  const answer = await fetch(upstream, {
    headers: { Authorization: `Bearer ${input.upstreamToken}`, Accept: "application/fhir+json" },
  });
  const text = (await answer.text()).replaceAll(input.upstream, fhirBase);
  event({ event: "fhir", path: url.pathname, status: answer.status });
  return send(res, answer.status, text);
}

const fhirServer = createServer((req, res) => {
  fhir(req, res).catch((error) => send(res, 502, outcome("exception", error.message)));
});

await new Promise((resolve) => authServer.listen(input.authPort, "127.0.0.1", resolve));
await new Promise((resolve) => fhirServer.listen(input.fhirPort, "127.0.0.1", resolve));
event({ event: "listening", issuer, fhirBase });
process.on("SIGTERM", () => process.exit(0));
