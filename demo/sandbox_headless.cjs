#!/usr/bin/env node
// Drive a locally built CDS Hooks sandbox, headless, against `make demo` (developers; not CI).
//
// What it checks, in Debian's Chromium through playwright-core:
//   1. patient-view: the sandbox opened with `hook=patient-view&screen=patient-view` for a demo
//      patient with HER2-altered NSCLC calls her2-nsclc-patient-view, gets 200, and renders a
//      card of ours (its summary text appears on the page);
//   2. Rx View: opened with `hook=order-select&screen=rx-view`, a medication typed and picked,
//      the sandbox calls her2-nsclc-order-select (its own id: before, order-sign's entry
//      overwrote it and Rx View never called the service), and gets 200. The sandbox's
//      medication list has no anticancer drug, so that call is answered without cards.
//
// Set-up, once (Node 20, Debian):
//   apt-get install chromium
//   (sandbox: a checkout of cds-hooks/sandbox)  npm install && npm run build
//   npm install --prefix var/sandbox-tools playwright-core
// Run, from the repository:
//   NODE_PATH=var/sandbox-tools/node_modules node demo/sandbox_headless.cjs /path/to/sandbox/build
// Options (environment): CHROMIUM (default /usr/bin/chromium), SANDBOX_PORT (8080: a port the
// demo's CORS defaults allow), DEMO_PORT (8081), DEMO_FHIR_PORT (8091), PATIENT
// (demo-v02-after-platinum), PYTHON (.venv/bin/python).
// It starts `python -m demo` itself and stops it at the end. Exit code 0: both checks passed.

'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { chromium } = require('playwright-core');

const buildDir = process.argv[2];
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const sandboxPort = Number(process.env.SANDBOX_PORT || 8080);
const demoPort = Number(process.env.DEMO_PORT || 8081);
const fhirPort = Number(process.env.DEMO_FHIR_PORT || 8091);
const patientId = process.env.PATIENT || 'demo-v02-after-platinum';
const python = process.env.PYTHON || path.join('.venv', 'bin', 'python');
const TYPES = {
  '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.ico': 'image/x-icon', '.map': 'application/json',
};

function fail(message) {
  console.error(`FAILED: ${message}`);
  process.exitCode = 1;
}

function serveSandbox(root) {
  const server = http.createServer((request, response) => {
    const url = new URL(request.url, 'http://127.0.0.1');
    let file = path.normalize(path.join(root, decodeURIComponent(url.pathname)));
    if (!file.startsWith(path.resolve(root))) {
      response.writeHead(403).end();
      return;
    }
    if (!fs.existsSync(file) || fs.statSync(file).isDirectory()) file = path.join(root, 'index.html');
    response.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(response);
  });
  return new Promise((resolve) => server.listen(sandboxPort, '127.0.0.1', () => resolve(server)));
}

function startDemo() {
  const child = spawn(python, ['-m', 'demo', '--port', String(demoPort), '--fhir-port', String(fhirPort)],
    { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const links = new Promise((resolve, reject) => {
    let seen = '';
    child.stdout.on('data', (chunk) => {
      seen += chunk.toString();
      if (seen.includes('Ctrl-C stops')) resolve(seen);
    });
    child.on('exit', (code) => reject(new Error(`python -m demo exited with ${code}`)));
  });
  return { child, links };
}

function linkFor(printed, hook) {
  const line = printed.split('\n').find((l) => l.includes(`sandbox ${hook}:`) && l.includes(`patientId=${patientId}`));
  if (!line) throw new Error(`no sandbox ${hook} link for ${patientId} in the demo's output`);
  const hosted = new URL(line.slice(line.indexOf('https://')).trim());
  return `http://127.0.0.1:${sandboxPort}/${hosted.search}`;
}

function serviceCalls(page, id) {
  const calls = [];
  page.on('response', (response) => {
    const request = response.request();
    if (request.method() === 'POST' && new URL(response.url()).pathname === `/cds-services/${id}`) {
      calls.push(response);
    }
  });
  return calls;
}

async function waitFor(condition, what, timeoutMs = 30000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await condition()) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  fail(`timed out waiting for ${what}`);
  return false;
}

async function checkPatientView(browser, url) {
  const page = await (await browser.newContext()).newPage();
  const calls = serviceCalls(page, 'her2-nsclc-patient-view');
  await page.goto(url);
  if (!await waitFor(() => calls.length > 0, 'a patient-view call to her2-nsclc-patient-view')) return;
  const response = calls[0];
  if (response.status() !== 200) return fail(`patient-view answered ${response.status()}`);
  const body = await response.json();
  if (!body.cards || body.cards.length === 0) return fail('patient-view answered no card');
  const summary = body.cards[0].summary;
  const shown = await waitFor(async () => (await page.content()).includes(summary.slice(0, 40)),
    'the first card to be shown');
  if (shown) console.log(`patient-view: ${body.cards.length} card(s), shown: "${summary}"`);
}

async function checkRxView(browser, url) {
  const page = await (await browser.newContext()).newPage();
  const select = serviceCalls(page, 'her2-nsclc-order-select');
  await page.goto(url);
  const input = page.locator('input[name="medication-input"]');
  await input.waitFor({ timeout: 30000 });
  await input.fill('Naproxen');
  const choice = page.getByRole('button', { name: /Naproxen/ }).first();
  await choice.click({ timeout: 30000 });
  if (!await waitFor(() => select.length > 0, 'an order-select call to her2-nsclc-order-select')) return;
  const response = select[select.length - 1];
  if (response.status() !== 200) return fail(`order-select answered ${response.status()}`);
  const body = await response.json();
  console.log(`Rx View: order-select called her2-nsclc-order-select, 200, ${body.cards.length} card(s)`);
}

async function main() {
  if (!buildDir || !fs.existsSync(path.join(buildDir, 'index.html'))) {
    throw new Error('usage: node demo/sandbox_headless.cjs /path/to/sandbox/build (after npm run build)');
  }
  const server = await serveSandbox(buildDir);
  const demo = startDemo();
  let browser;
  try {
    const printed = await demo.links;
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox'] });
    await checkPatientView(browser, linkFor(printed, 'patient-view'));
    await checkRxView(browser, linkFor(printed, 'order-select'));
  } finally {
    if (browser) await browser.close();
    server.close();
    try { process.kill(-demo.child.pid, 'SIGINT'); } catch (error) { /* already gone */ }
  }
  if (!process.exitCode) console.log('sandbox checks passed');
}

main().catch((error) => { fail(error.message); });
