// Headless-Chromium check of the page `nmt attention` writes.
//
//   node scripts/browser-test/attention.mjs PAGE.html SCREENSHOT.png
//
// Opens PAGE.html from disk in Debian's chromium (CHROMIUM overrides /usr/bin/chromium) with
// every non-file request blocked, fails on any console error, page error or network request,
// clicks a source token and checks that the heatmap and the translation light up, checks the
// causal view has nothing above the diagonal, and writes SCREENSHOT.png (cross-attention with
// the clicked token) plus SCREENSHOT-decoder.png and SCREENSHOT-heads.png beside it.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const [pagePath, shotPath] = process.argv.slice(2);
if (!pagePath || !shotPath) {
  console.error("usage: node attention.mjs PAGE.html SCREENSHOT.png");
  process.exit(2);
}
const shot = resolve(shotPath);
const extra = (suffix) => shot.replace(/(\.png)?$/i, `-${suffix}.png`);

function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
}

const userDataDir = mkdtempSync(join(tmpdir(), "nmt-chromium-"));
const problems = [];
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1360, height: 900 },
    deviceScaleFactor: 1,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("file:")) return route.continue();
    problems.push(`network request: ${url}`);
    return route.abort();
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));

  await page.goto(pathToFileURL(resolve(pagePath)).href, { waitUntil: "load" });
  await page.waitForSelector("#panel .hm .cell");

  const nSrc = await page.locator("#src-chips .chip").count();
  const nTgt = await page.locator("#tgt-chips .chip").count();
  const rows = nTgt - 1; // <s> is an input only
  check(nSrc >= 2 && nTgt >= 2, `tokens: ${nSrc} source, ${nTgt} target chips`);
  const cells = await page.locator("#panel .hm .cell").count();
  check(cells === rows * nSrc, `cross-attention heatmap has ${cells} cells, want ${rows}x${nSrc}`);
  check((await page.locator("#panel .cell.hl").count()) === 0, "something is lit before any click");

  // Click a source token: its column lights up (one cell per target row) with weights shown,
  // and the translation's chips get their weights.
  const chip = page.locator("#src-chips .chip").nth(Math.min(2, nSrc - 2));
  const word = (await chip.locator(".tok").innerText()).trim();
  await chip.click();
  check(await chip.evaluate((e) => e.classList.contains("selected")), "clicked chip not selected");
  const lit = page.locator("#panel .cell.hl");
  check((await lit.count()) === rows, `${await lit.count()} cells lit, want ${rows}`);
  // Each lit cell shows its weight (as ".42"; big heatmaps with small cells keep it in the
  // cell's tooltip only) and the side panel lists them.
  const numbers = (await lit.allInnerTexts()).map((t) => t.trim()).filter((t) => t);
  check(numbers.every((t) => /^(1|\.\d\d)$/.test(t)), `weights shown: ${numbers}`);
  const tips = await lit.evaluateAll((cells) => cells.map((c) => c.title));
  check(tips.every((t) => /: [01]\.\d{4}$/.test(t)), `cell tooltips: ${tips}`);
  const bars = await page.locator("#detail .bars .val").count();
  check(bars === Math.min(rows, 12), `${bars} bars in the side panel`);
  check((await page.locator("#panel .hm.has-sel").count()) === 1, "heatmap not in selection mode");
  const weighed = await page.locator("#tgt-chips .chip .w").allInnerTexts();
  check(weighed.filter((t) => t.trim()).length === rows, `translation weights: ${weighed}`);
  const colSel = await page.locator("#panel .hm .col.sel").allInnerTexts();
  check(colSel.length === 1, `selected column labels: ${colSel}`);
  await page.screenshot({ path: shot, fullPage: true });

  // Decoder self-attention: strictly nothing above the diagonal.
  await page.locator("#view-seg button").nth(2).click();
  const masked = await page.locator("#panel .cell.masked").count();
  check(masked === (rows * (rows - 1)) / 2, `${masked} masked cells, want ${(rows * (rows - 1)) / 2}`);
  const aboveDiagonalPainted = await page.evaluate(() => {
    const cells = [...document.querySelectorAll("#panel .hm .cell")];
    const n = Math.round(Math.sqrt(cells.length));
    return cells.filter((c, i) => i % n > Math.floor(i / n) && !c.classList.contains("masked")).length;
  });
  check(aboveDiagonalPainted === 0, `${aboveDiagonalPainted} cells above the diagonal are not masked`);
  // A target token lights its row there.
  await page.locator("#tgt-chips .chip").nth(Math.min(3, nTgt - 1)).click();
  check((await page.locator("#panel .row.sel").count()) === 1, "no decoder row selected");
  await page.screenshot({ path: extra("decoder"), fullPage: true });

  // All heads of the last layer, back in cross-attention.
  await page.locator("#view-seg button").nth(0).click();
  await page.locator("#layer-seg button").last().click();
  await page.locator("#mode-seg button").nth(1).click();
  const minis = await page.locator("#panel .mini").count();
  const heads = (await page.locator("#head-seg button").count()) - 1;
  check(minis === heads + 1, `${minis} small heatmaps for ${heads} heads + average`);
  await page.screenshot({ path: extra("heads"), fullPage: true });

  check(problems.length === 0, problems.join("\n"));
  console.log(
    `browser check passed: ${nSrc} source x ${rows} target tokens, clicked "${word}", ` +
      `${heads} heads; screenshot ${shot}`,
  );
} catch (e) {
  console.error(e.message);
  for (const p of problems) console.error(p);
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
