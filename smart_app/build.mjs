// Build the app into ../cds_service/static/smart/ (served by the service at /smart/).
// Reproducible: pinned esbuild (package-lock.json), no timestamps, no source maps with
// local paths; the same sources give the same bytes.

import { build } from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "cds_service", "static", "smart");

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: {
    launch: join(here, "src", "launch.js"),
    app: join(here, "src", "app.js"),
    style: join(here, "src", "app.css"),
  },
  outdir: out,
  bundle: true,
  minify: true,
  format: "iife",
  platform: "browser",
  target: ["chrome110", "firefox110", "safari16", "edge110"],
  legalComments: "linked",
  charset: "utf8",
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
});
for (const page of ["launch.html", "index.html", "favicon.svg"]) {
  await copyFile(join(here, page), join(out, page));
}
console.log(`built the SMART app into ${out}`);
