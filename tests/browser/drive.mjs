// Drive Debian's Chromium with playwright-core (npm, pinned in smart_app/package-lock.json):
// open each page, wait for the app to draw (or fail), and report what a clinician would
// see, as JSON on stdout, for tests/browser/test_smart_app.py to check.
//
// Input: one JSON argument {chromium, pages: [{name, url, screenshot?, screenshotTop?}]}.
// Per page: console errors, CSP violations (the securitypolicyviolation event and
// Chromium's console report), the lane tables' text, the number of marks in the SVG, a
// tooltip's text after hovering a mark, whether the arrow keys move between rows, and the
// Content-Security-Policy headers of the documents loaded.

import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "..", "smart_app", "package.json"));
const { chromium } = require("playwright-core");

const TIMEOUT_MS = 90_000;
const input = JSON.parse(process.argv[2]);

async function lanesText(page) {
  return page.evaluate(() => {
    const lanes = {};
    for (const section of document.querySelectorAll("#lanes section.lane-text")) {
      const table = section.querySelector("table");
      lanes[section.id] = table
        ? [...table.querySelectorAll("tbody tr")].map((tr) =>
            [...tr.children].map((td) => td.textContent),
          )
        : section.querySelector(".not-recorded")?.textContent ?? null;
    }
    return lanes;
  });
}

async function tooltipOf(page) {
  // The LVEF points when there are any, else the first bar: hover it, read the tooltip.
  for (const selector of [
    'path[aria-roledescription="point"][aria-label*="LVEF:"]',
    'path[aria-roledescription="point"]',
    'path[aria-roledescription="bar"]',
  ]) {
    const marks = page.locator(`#timeline svg ${selector}`);
    if ((await marks.count()) > 0) {
      await marks.first().hover({ force: true });
      try {
        await page.waitForSelector("#tooltip:not([hidden])", { timeout: 5000 });
        return page.locator("#tooltip").innerText();
      } catch {
        return null;
      }
    }
  }
  return null;
}

async function keyboardMoves(page) {
  // The first table with two rows or more: focus its first row, press the down arrow.
  const lane = await page.evaluate(
    () => [...document.querySelectorAll("#lanes table")].find((t) => t.tBodies[0].rows.length > 1)?.dataset.lane,
  );
  if (!lane) return null;
  const rows = page.locator(`#lanes table[data-lane="${lane}"] tbody tr`);
  await rows.first().focus();
  await page.keyboard.press("ArrowDown");
  return page.evaluate((name) => {
    const all = [...document.querySelectorAll(`#lanes table[data-lane="${name}"] tbody tr`)];
    return all.indexOf(document.activeElement) === 1;
  }, lane);
}

async function visit(browser, target) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  const consoleErrors = [];
  const csp = [];
  const visited = [];
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
    if (/Content Security Policy/i.test(message.text())) csp.push(message.text());
  });
  page.on("pageerror", (error) => consoleErrors.push(`pageerror: ${error.message}`));
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) visited.push(new URL(frame.url()).origin + new URL(frame.url()).pathname);
  });
  const policies = new Set();
  page.on("response", (response) => {
    if (response.request().resourceType() === "document") {
      const policy = response.headers()["content-security-policy"];
      if (policy) policies.add(policy);
    }
  });
  const result = { name: target.name };
  try {
    await page.goto(target.url, { timeout: TIMEOUT_MS });
    await page.waitForSelector("body[data-state=drawn], body[data-state=failed]", { timeout: TIMEOUT_MS });
    result.state = await page.getAttribute("body", "data-state");
    result.status = await page.locator("#status").innerText();
    result.summary = await page.locator("#summary").innerText();
    result.issues = await page.locator("#issues li").allInnerTexts();
    result.lanes = await lanesText(page);
    result.marks = await page.evaluate(() => {
      const counts = {};
      for (const g of document.querySelectorAll("#timeline svg [aria-roledescription]")) {
        const role = g.getAttribute("aria-roledescription");
        counts[role] = (counts[role] ?? 0) + g.querySelectorAll("path, line, text").length;
      }
      return counts;
    });
    result.svgLabels = await page.evaluate(() =>
      [...document.querySelectorAll("#timeline svg [aria-label]")].map((n) => n.getAttribute("aria-label")),
    );
    result.keyboard = await keyboardMoves(page);
    result.tooltip = await tooltipOf(page);
    await page.mouse.move(0, 0);
    await page.evaluate(() => {
      document.activeElement?.blur();
      window.scrollTo(0, 0);
    });
    if (target.screenshot) await page.screenshot({ path: target.screenshot, fullPage: true });
    if (target.screenshotTop) {
      // The header and the whole timeline, as a clinician sees it first.
      const bottom = await page.evaluate(() => document.getElementById("timeline").getBoundingClientRect().bottom);
      await page.screenshot({ path: target.screenshotTop, fullPage: true, clip: { x: 0, y: 0, width: 1280, height: Math.ceil(bottom) + 16 } });
    }
    result.cspEvents = await page.evaluate(() => window.__csp);
  } catch (error) {
    result.error = String(error.message ?? error);
    if (target.screenshot) await page.screenshot({ path: target.screenshot, fullPage: true }).catch(() => {});
  }
  result.consoleErrors = consoleErrors;
  result.cspConsole = csp;
  result.visited = visited;
  result.policies = [...policies];
  await context.close();
  return result;
}

const browser = await chromium.launch({
  executablePath: input.chromium,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const results = [];
try {
  for (const target of input.pages) results.push(await visit(browser, target));
} finally {
  await browser.close();
}
process.stdout.write(`${JSON.stringify(results)}\n`);
