// Headless Chromium for the page checks here: Debian's chromium (CHROMIUM overrides
// /usr/bin/chromium) driven by playwright-core, in a throwaway profile, at 1280x900.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { chromium } from "playwright-core";

// Runs `use(page)` in a fresh browser and returns what it returns; the browser and its
// profile are gone afterwards, whatever happened.
export async function withPage(use) {
  const profile = await mkdtemp(join(tmpdir(), "inferx-chromium-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const page = context.pages()[0] ?? await context.newPage();
    return await use(page);
  } finally {
    await context?.close();
    await rm(profile, { recursive: true, force: true });
  }
}

// Waits until the demo page shows both results (the annotated image and the JSON), or has
// reported an error.
export async function demoAnswered(page) {
  await page.waitForFunction(() =>
    (document.querySelector('#result[data-loaded="true"]') && !document.getElementById("json").hidden)
    || document.getElementById("status").classList.contains("error"), null, { timeout: 60_000 });
}

const TYPES = { ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp", ".bmp": "image/bmp" };

// The MIME type of an image file, by its extension.
export function imageType(path) {
  return TYPES[extname(path).toLowerCase()] ?? "application/octet-stream";
}
