// Drives Ferry's web console in headless Chromium (Debian's, through playwright-core): the page
// loads without console errors, lists every configured path, and tracks one transfer to
// "acknowledged". Prints one JSON line per milestone; exits non-zero on any failure.
//
// usage: node track.cjs URL CHAIN OUT_DIR PATH_NAME... (the tx hash is read from stdin)
"use strict";

const { chromium } = require("playwright-core");
const readline = require("readline");
const path = require("path");

const [url, chain, outDir, ...paths] = process.argv.slice(2);
const say = (o) => console.log(JSON.stringify(o));
const errors = [];

async function readHash() {
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line.trim()) return line.trim();
  }
  throw new Error("no tx hash on stdin");
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  try {
    const page = await browser.newPage();
    page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
    page.on("pageerror", (e) => errors.push(`page: ${e.message}`));
    page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));
    await page.goto(url, { waitUntil: "load" });
    for (const p of paths) {
      await page.locator(`#paths tr[data-path="${p}"]`).waitFor({ timeout: 15000 });
    }
    const shown = await page.locator("#paths tr[data-path]").count();
    await page.screenshot({ path: path.join(outDir, "console-loaded.png"), fullPage: true });
    say({ event: "ready", paths_shown: shown });

    const hash = await readHash();
    await page.selectOption("#track-chain", chain);
    await page.fill("#track-hash", hash);
    await page.click("#track-go");
    const item = page.locator(`#transfers li[data-tx="${hash}"]`);
    await item.waitFor({ timeout: 15000 });
    say({ event: "tracking" });
    // Every state the page shows is recorded as it changes; the wait ends at "acknowledged".
    await page.evaluate((h) => {
      window.__states = [];
      const li = document.querySelector(`#transfers li[data-tx="${h}"]`);
      const note = () => {
        const s = li.querySelector(".state");
        const t = s ? s.textContent : "";
        if (window.__states[window.__states.length - 1] !== t) window.__states.push(t);
      };
      note();
      new MutationObserver(note).observe(li, { subtree: true, childList: true, characterData: true });
    }, hash);
    await page.waitForFunction(
      (h) => document.querySelector(`#transfers li[data-tx="${h}"] .state`)?.textContent === "acknowledged",
      hash,
      { timeout: 120000, polling: "raf" },
    );
    const seen = await page.evaluate(() => window.__states);
    const done = await item.locator(".step.done").allTextContents();
    await page.screenshot({ path: path.join(outDir, "console-acknowledged.png"), fullPage: true });
    say({ event: "acknowledged", steps_done: done, states_seen: seen, errors });
    if (errors.length) throw new Error(`errors in the page: ${errors.join("; ")}`);
  } finally {
    await browser.close();
  }
})().catch((e) => {
  say({ event: "failed", error: String(e && e.stack || e), errors });
  process.exit(1);
});
