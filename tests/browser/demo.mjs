// Headless-Chromium test of the generated server's demo page (GET /).
//
//   node tests/browser/demo.mjs <base-url> <image-path> <screenshot-out.png>
//
// Uploads the image through the page's file input, waits for the annotated PNG and the JSON,
// saves a full-page screenshot, then checks in the page that the first detection's box was
// really drawn: along its four edges the annotated image must differ from the original and be
// (nearly) one colour. Prints a one-line JSON summary; exits 0 only when the check passes.
// Prepare with scripts/browser-env.sh; CHROMIUM overrides the browser (default /usr/bin/chromium).
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { demoAnswered, imageType, withPage } from "./chromium.mjs";

const [base, imagePath, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error("usage: node tests/browser/demo.mjs <base-url> <image-path> <screenshot-out.png>");
  process.exit(2);
}
const MIN_CHANGED = 0.8; // of sampled edge pixels
const MIN_UNIFORM = 0.8; // of sampled edge pixels within tolerance of the commonest colour
const original = `data:${imageType(imagePath)};base64,${(await readFile(imagePath)).toString("base64")}`;

const result = await withPage(async (page) => {
  await page.goto(base, { waitUntil: "load" });
  await page.setInputFiles("#file", imagePath);
  await demoAnswered(page);
  await page.screenshot({ path: screenshot, fullPage: true });
  return page.evaluate(checkBoxes, original);
});

const summary = { detections: result.detections ?? 0, edge_pixels_changed: result.changed ?? 0,
  edge_uniform: result.uniform ?? 0, edge_color: result.color, screenshot: resolve(screenshot) };
console.log(JSON.stringify(summary));
const why = result.error
  ?? (summary.detections < 1 ? "no detections"
    : summary.edge_pixels_changed < MIN_CHANGED ? `only ${summary.edge_pixels_changed} of edge pixels changed (need ${MIN_CHANGED})`
    : summary.edge_uniform < MIN_UNIFORM ? `edge is not one colour (uniform ${summary.edge_uniform}, need ${MIN_UNIFORM})`
    : null);
if (why) {
  console.error(`FAIL: ${why}`);
  process.exit(1);
}

// Runs in the page: compares the shown #result image with the original along the first box.
async function checkBoxes(originalUrl) {
  const status = document.getElementById("status");
  if (status.classList.contains("error")) return { error: `page error: ${status.textContent}` };
  const detections = JSON.parse(document.getElementById("json").textContent).detections ?? [];
  if (!detections.length) return { detections: 0 };

  const pixels = (image) => {
    const canvas = document.createElement("canvas");
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(image, 0, 0);
    return context.getImageData(0, 0, canvas.width, canvas.height);
  };
  const annotated = pixels(document.getElementById("result"));
  const source = new Image();
  source.src = originalUrl;
  await source.decode();
  const before = pixels(source);
  const { width, height } = annotated;
  if (before.width !== width || before.height !== height) {
    return { detections: detections.length, error: `annotated is ${width}x${height}, original ${before.width}x${before.height}` };
  }

  // The four edges of the first box (rounded and clamped like the server draws it), corners skipped.
  const clamp = (v, max) => Math.min(Math.max(Math.round(v), 0), max - 1);
  const { x1, y1, x2, y2 } = detections[0].box;
  const [left, top, right, bottom] = [clamp(x1, width), clamp(y1, height), clamp(x2, width), clamp(y2, height)];
  const points = [];
  for (let x = left + 3; x <= right - 3; x++) points.push([x, top], [x, bottom]);
  for (let y = top + 3; y <= bottom - 3; y++) points.push([left, y], [right, y]);
  if (!points.length) return { detections: detections.length, error: "box too small to sample" };

  const rgb = (data, [x, y]) => Array.from(data.data.subarray((y * width + x) * 4, (y * width + x) * 4 + 3));
  const distance = (a, b) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
  const drawn = points.map((p) => rgb(annotated, p));
  const changed = points.filter((p, i) => distance(drawn[i], rgb(before, p)) > 24).length;
  const counts = new Map();
  for (const c of drawn) counts.set(c.join(), (counts.get(c.join()) ?? 0) + 1);
  const common = [...counts].sort((a, b) => b[1] - a[1])[0][0].split(",").map(Number);
  const uniform = drawn.filter((c) => distance(c, common) <= 16).length;
  const round = (v) => Math.round(v * 1000) / 1000;
  return {
    detections: detections.length,
    changed: round(changed / points.length),
    uniform: round(uniform / points.length),
    color: "#" + common.map((v) => v.toString(16).padStart(2, "0")).join(""),
  };
}
