// The playground's round trip in a real browser: fill the /mandala form,
// send it, wait for the grid to appear in the feed, take U2, remix it
// through the form, open the form from the message menu, ask for the
// user's own mandala from the user menu in German, and check the gallery.
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
// The banner names the design the stack runs.
const design = await page.textContent("#design");
if (!["pubsub", "single", "pubsub-split", "cloud-tasks"].includes(design)) await fail(`the banner names no design: ${design}`);
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
const grid = await page.textContent(".feed .msg .content");
if (!grid.includes("seeds")) await fail(`the first reply is not a grid of four: ${grid}`);
const labels = await page.$$eval(".feed .msg:first-child .buttons button", (bs) => bs.map((b) => b.textContent.trim()));
for (const want of ["U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4", "🔄"]) {
  if (!labels.includes(want)) await fail(`no ${want} button under the grid: ${labels.join(", ")}`);
}
// U2: the second candidate alone.
await page.click(".feed .msg:first-child .buttons button:text-is('U2')");
await waitImages(2);
const single = await page.textContent(".feed .msg:first-child .content");
if (!/seed \d+/.test(single) || single.includes("seeds")) await fail(`U2 did not answer with one image: ${single}`);
// Remix under the single image: the form opens pre-filled; change the shape and submit.
await page.click(".feed .msg:first-child .buttons button:has-text('Remix')");
await page.waitForSelector(".modal input[name=shape]", { timeout: 10000 }).catch(() => fail("the Remix form did not open"));
const seed = await page.inputValue(".modal input[name=seed]");
if (!/^\d+$/.test(seed)) await fail(`the form's seed is not pre-filled: ${seed}`);
await page.fill(".modal input[name=shape]", "6 · 2 · auto · mirrored");
await page.click(".modal .submit");
await waitImages(3);
const remixed = await page.textContent(".feed .msg:first-child .content");
if (!remixed.includes("6-fold mirrored")) await fail(`the remix did not use the form: ${remixed}`);
// The message menu opens the same form on any of the bot's messages.
await page.hover(".feed .msg:first-child");
await page.click(".feed .msg:first-child .apps");
await page.click(".menu button:has-text('Remix mandala')");
await page.waitForSelector(".modal input[name=seed]", { timeout: 10000 }).catch(() => fail("the message menu did not open the form"));
await page.click(".modal .cancel");
// The user menu on a mention: that user's own mandala, in another language.
await page.selectOption("#locale", "de");
await page.click(".feed .msg:first-child .mention");
await page.click(".menu button:has-text('Mandala for this user')");
await waitImages(4);
const german = await page.textContent(".feed .msg:first-child .content");
if (!german.includes("U1–U4")) await fail(`the user menu did not answer with a grid: ${german}`);
if (german.includes("take one at full size")) await fail(`the answer is not in German: ${german}`);
await page.waitForFunction(() => document.querySelectorAll("#gallery img").length >= 4, null, { timeout: 10000 })
  .catch(() => fail("gallery does not list the images"));
if (errors.length) await fail(`page errors: ${errors.join("; ")}`);
await page.screenshot({ path: screenshot, fullPage: true });
await browser.close();
console.log("ok: grid → U2 → Remix form → message menu → user menu, through ingress, worker and stand-in");
