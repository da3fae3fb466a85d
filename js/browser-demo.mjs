// Drive the demo page in a real headless Chromium (Debian's, through playwright-core):
//   node js/browser-demo.mjs BASE_URL SCREENSHOT.png [CHROMIUM]
// For each store (IndexedDB, OPFS): load the page (a guest appends an entry to a file on the
// persistent mount), reload it (the next run must find the first entry), then print a JSON
// report. The screenshot is of the last reloaded page.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, screenshot, executablePath = "/usr/bin/chromium"] = process.argv.slice(2);
const userDataDir = mkdtempSync(join(tmpdir(), "wasifs-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const report = { runs: [] };
try {
  const page = await context.newPage();
  page.on("console", (msg) => process.stderr.write(`[page] ${msg.text()}\n`));
  const result = async () => {
    await page.waitForFunction(() => window.wasifsResult !== undefined, null, { timeout: 180000 });
    return page.evaluate(() => window.wasifsResult);
  };
  for (const store of ["idb", "opfs"]) {
    await page.goto(`${base}/index.html?store=${store}&entry=hello+from+${store}`);
    const first = await result();
    await page.reload();
    const second = await result();
    report.runs.push({ store, first, second });
  }
  await page.setViewportSize({ width: 900, height: 560 });
  await page.screenshot({ path: screenshot });
  report.userAgent = await page.evaluate(() => navigator.userAgent);
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(report));
