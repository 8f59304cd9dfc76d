// The playground's round trip in a real browser: fill the /mandala form,
// send it, wait for the worker's image to appear in the feed, click
// Re-roll, wait for the second image, and check the gallery lists both.
// Usage: node roundtrip.mjs <playground url> <screenshot.png>
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node roundtrip.mjs <playground url> <screenshot.png>");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const fail = async (why) => {
  console.error(`FAIL: ${why}`);
  try { await page.screenshot({ path: screenshot, fullPage: true }); } catch {}
  await browser.close();
  process.exit(1);
};
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));

await page.goto(url);
await page.waitForFunction(() => document.querySelectorAll("#palette option").length > 12, null, { timeout: 10000 })
  .catch(() => fail("palettes never loaded"));
await page.fill("#seed", "42");
await page.selectOption("#palette", "ocean");
await page.selectOption("#size", "256");
await page.click("#go");

const loadedImages = () => page.evaluate(() =>
  [...document.querySelectorAll(".feed .embed img")].filter((i) => i.complete && i.naturalWidth > 0).length);
const waitImages = async (n) => {
  for (let i = 0; i < 300; i++) {
    if (await loadedImages() >= n) return;
    await page.waitForTimeout(200);
  }
  await fail(`expected ${n} rendered image(s) in the feed, got ${await loadedImages()}`);
};

await waitImages(1);
const text = await page.textContent(".feed .msg .content");
if (!text.includes("42")) await fail(`reply text does not mention the seed: ${text}`);
await page.click(".feed .buttons button:has-text('Re-roll')");
await waitImages(2);
await page.waitForFunction(() => document.querySelectorAll("#gallery img").length >= 2, null, { timeout: 10000 })
  .catch(() => fail("gallery does not list both images"));
if (errors.length) await fail(`page errors: ${errors.join("; ")}`);
await page.screenshot({ path: screenshot, fullPage: true });
await browser.close();
console.log("ok: form → ingress → worker → stand-in → page, and a Re-roll click");
