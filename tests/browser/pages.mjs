// Headless-Chromium check of the generated server's two pages, and their screenshots.
//
//   node tests/browser/pages.mjs <base-url> <image-path> <demo.png> <docs.png>
//
// The demo page (/): it has its icon; an image dropped on it (a real drop event carrying the
// file, as a browser sends when a file is dragged from the desktop) highlights the page while
// dragged, then shows the annotated image and the JSON. The docs page (/docs): one section for
// each operation of /openapi.json, each with a curl example addressed to this server, the
// schemas linked, no Markdown left raw, the icon, and nothing fetched from another origin.
// Saves a screenshot of each; prints a one-line JSON summary; exits 0 only when all hold.
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { demoAnswered, imageType, withPage } from "./chromium.mjs";

const [base, imagePath, demoShot, docsShot] = process.argv.slice(2);
if (!docsShot) {
  console.error("usage: node tests/browser/pages.mjs <base-url> <image-path> <demo.png> <docs.png>");
  process.exit(2);
}
const image = { data: (await readFile(imagePath)).toString("base64"), name: basename(imagePath), type: imageType(imagePath) };

const summary = await withPage(async (page) => {
  const elsewhere = [];
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (!["data:", "blob:"].includes(url.protocol) && url.origin !== new URL(base).origin) elsewhere.push(request.url());
  });
  const icon = () => page.evaluate(() => document.querySelector('link[rel="icon"]')?.href.slice(0, 26) ?? null);

  await page.goto(base, { waitUntil: "load" });
  const demo = { icon: await icon() };
  const transfer = await page.evaluateHandle(({ data, name, type }) => {
    const dropped = new DataTransfer();
    dropped.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name, { type }));
    return dropped;
  }, image);
  await page.dispatchEvent("#drop", "dragenter", { dataTransfer: transfer });
  demo.highlighted_while_dragged = await page.evaluate(() => document.body.classList.contains("dragging"));
  await page.dispatchEvent("#drop", "dragover", { dataTransfer: transfer });
  await page.dispatchEvent("#drop", "drop", { dataTransfer: transfer });
  await demoAnswered(page);
  Object.assign(demo, await page.evaluate(() => ({
    highlighted_after_drop: document.body.classList.contains("dragging"),
    status: document.getElementById("status").textContent,
    error: document.getElementById("status").classList.contains("error"),
    detections: (JSON.parse(document.getElementById("json").textContent || "{}").detections ?? []).length,
  })));
  await page.screenshot({ path: demoShot, fullPage: true });

  await page.goto(new URL("/docs", base).href, { waitUntil: "load" });
  const docs = await page.evaluate(async () => {
    const spec = await (await fetch("/openapi.json")).json();
    const operations = Object.values(spec.paths).reduce((sum, item) => sum + Object.keys(item).length, 0);
    const sections = [...document.querySelectorAll("section.operation")];
    return {
      operations,
      sections: sections.length,
      with_curl: sections.filter((section) => [...section.querySelectorAll("pre")].some((pre) =>
        pre.textContent.startsWith("curl ") && pre.textContent.includes(location.origin + "/"))).length,
      with_schema: sections.filter((section) => section.querySelector(".type")).length,
      schema_links_resolve: [...document.querySelectorAll('a[href^="#schema-"]')]
        .every((link) => document.getElementById(link.getAttribute("href").slice(1))),
      raw_markdown: document.body.innerText.includes("`"),
    };
  });
  docs.icon = await icon();
  await page.screenshot({ path: docsShot });
  return { demo, docs, elsewhere };
});

console.log(JSON.stringify(summary));
const { demo, docs } = summary;
const why = demo.icon !== "data:image/svg+xml,%3Csvg " ? `the demo page's icon is ${demo.icon}`
  : !demo.highlighted_while_dragged || demo.highlighted_after_drop ? "the page does not show the drag"
  : demo.error || !demo.status.startsWith(image.name) ? `the drop was not predicted: ${demo.status}`
  : demo.detections < 1 ? "no detections shown"
  : docs.icon !== demo.icon ? `the docs page's icon is ${docs.icon}`
  : docs.sections !== docs.operations ? `${docs.sections} sections for ${docs.operations} operations`
  : docs.with_curl !== docs.operations ? `${docs.with_curl} of ${docs.operations} sections have a curl example for this server`
  : docs.with_schema !== docs.operations ? `${docs.with_schema} of ${docs.operations} sections show a schema`
  : !docs.schema_links_resolve ? "a schema link leads nowhere"
  : docs.raw_markdown ? "raw Markdown on the docs page"
  : summary.elsewhere.length ? `fetched from elsewhere: ${summary.elsewhere.join(", ")}`
  : null;
if (why) {
  console.error(`FAIL: ${why}`);
  process.exit(1);
}
