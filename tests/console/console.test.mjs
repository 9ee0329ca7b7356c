// The emulator's web console in headless Chromium: it loads, shows the token a flow obtained
// (masked), revokes it with its button, and the library recovers on the next request.
//
//   CONSOLE_NODE_MODULES=DIR node console.test.mjs EMULATOR_URL SUZ_BINARY CONFIG OMS_CONNECTION OMS_ID SCREENSHOT_DIR
//
// playwright-core (installed into DIR by tests/console/run.sh) drives Debian's /usr/bin/chromium
// (or $CHROMIUM); no browser is downloaded.
import { execFileSync } from "node:child_process";
import http from "node:http";
import { createRequire } from "node:module";

const { chromium } = createRequire(`${process.env.CONSOLE_NODE_MODULES}/`)("playwright-core");

const [url, suz, config, connection, omsId, shots] = process.argv.slice(2);
if (!shots) {
  console.error("usage: node console.test.mjs EMULATOR_URL SUZ CONFIG OMS_CONNECTION OMS_ID SCREENSHOT_DIR");
  process.exit(2);
}

let passed = 0;
function check(ok, what) {
  if (!ok) throw new Error(`FAILED: ${what}`);
  passed += 1;
  console.log(`ok: ${what}`);
}

function cli(...args) {
  return execFileSync(suz, ["--config", config, ...args], { encoding: "utf8", timeout: 60_000 }).trim();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  timeout: 60_000,
});
let failed = null;
const page = await browser.newPage();
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
try {
  const response = await page.goto(`${url}/admin/`);
  check(response.ok(), "GET /admin/ serves the console");
  check((await page.title()) === "suz-emulator console", "the page is the console");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("updated"),
                             null, { timeout: 10_000 });
  check(true, "the console reads the admin API");

  // A flow through the library: the console shows its token, masked.
  const first = cli("token", "line");
  const row = page.locator(`#tokens tr[data-connection="${connection.toLowerCase()}"]`);
  await row.waitFor({ timeout: 10_000 });
  const masked = (await row.locator("td.token").textContent()).trim();
  check(masked.length > 0 && masked.length < first.length && first.startsWith(masked.replace(/…$/, "")),
        `the live token is shown masked (${masked})`);
  check(!(await page.content()).includes(first), "the whole token never appears on the page");
  const issued = page.locator('#requests tr[data-endpoint="gismt.token"][data-status="200"]');
  await issued.first().waitFor({ timeout: 10_000 });
  check(true, "the request log shows the sign-in that issued it");
  check((await row.locator("td.kind").textContent()).trim() === "SUZ clientToken",
        "the installation's token is shown as a SUZ clientToken");

  // A token the service keeps for itself is listed with its kind.
  cli("token", "united");
  const united = page.locator("#tokens tr", { hasText: "united token" });
  await united.first().waitFor({ timeout: 10_000 });
  check((await united.first().locator("td.kind").textContent()).trim() === "united token",
        "the united token is listed as one");
  await page.screenshot({ path: `${shots}/console-token.png`, fullPage: true });

  // A page of another site — served on another loopback port — tries to drive the admin API
  // the ways a browser lets any page: a text/plain and a bodiless no-cors POST, a form, a JSON
  // POST (which needs a CORS preflight). Nothing changes.
  const admin = async (path) => (await fetch(`${url}${path}`)).json();
  const liveBefore = JSON.stringify((await admin("/admin/stats")).live_tokens);
  const attack = `<!doctype html><title>another site</title>
<iframe name="sink"></iframe>
<form id="f" method="POST" action="${url}/admin/faults" target="sink" enctype="text/plain">
<input name='{"endpoint":"suz.ping","kind":"suz_error","status":400,"message":"' value='"}'></form>
<script>
window.attempts = 0;
const done = () => { window.attempts += 1; };
const emu = ${JSON.stringify(url)};
fetch(emu + "/admin/revoke", { method: "POST", mode: "no-cors", headers: { "Content-Type": "text/plain" },
  body: JSON.stringify({ all: true }) }).catch(() => {}).finally(done);
fetch(emu + "/admin/reset", { method: "POST", mode: "no-cors" }).catch(() => {}).finally(done);
fetch(emu + "/admin/faults", { method: "POST", headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ endpoint: "suz.ping", kind: "status", status: 503 }) }).catch(() => {}).finally(done);
document.querySelector("iframe").addEventListener("load", done, { once: true });
document.getElementById("f").submit();
</script>`;
  const site = http.createServer((_, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(attack);
  });
  await new Promise((ready) => site.listen(0, "127.0.0.1", ready));
  const other = await browser.newPage();
  try {
    await other.goto(`http://127.0.0.1:${site.address().port}/`);
    await other.waitForFunction(() => window.attempts === 4, null, { timeout: 10_000 });
  } finally {
    await other.close();
    site.close();
  }
  check(JSON.stringify((await admin("/admin/stats")).live_tokens) === liveBefore,
        "a page on another port revoked nothing and reset nothing");
  check((await admin("/admin/faults")).faults.length === 0,
        "a page on another port queued no fault (a form, a JSON POST)");

  // Revoke it with the button: the row goes.
  await row.locator("button.revoke").click();
  await row.waitFor({ state: "detached", timeout: 10_000 });
  check(true, "the Revoke button revokes the token");

  // The library's next request meets the revoked token (401), fetches a new one and succeeds.
  const answer = JSON.parse(cli("--json", "request", "line", "GET", `/api/v2/pharma/ping?omsId=${omsId}`));
  check(answer.status === 200, `the library recovered: the request answered ${answer.status}`);
  const refused = page.locator('#requests tr[data-endpoint="suz.ping"][data-status="401"]');
  await refused.first().waitFor({ timeout: 10_000 });
  check(true, "the request log shows the revoked token refused");
  const second = cli("token", "line");
  check(second !== first, "the library holds a new token");
  await page.waitForFunction(
    ([conn, prefix]) => {
      const cell = document.querySelector(`#tokens tr[data-connection="${conn}"] td.token`);
      return cell !== null && cell.textContent.trim().replace(/…$/, "") !== "" && prefix.startsWith(cell.textContent.trim().replace(/…$/, ""));
    },
    [connection.toLowerCase(), second],
    { timeout: 10_000 },
  );
  check(true, "the console shows the new token");

  // A fault queued from the form is listed, and cleared.
  await page.selectOption("#fault-endpoint", "suz.ping");
  await page.selectOption("#fault-kind", "status");
  await page.fill('#fault-form input[name="status"]', "503");
  await page.fill('#fault-form input[name="times"]', "2");
  await page.click("#queue-fault");
  const fault = page.locator("#faults tbody tr", { hasText: "suz.ping" });
  await fault.first().waitFor({ timeout: 10_000 });
  check((await fault.first().textContent()).includes("503"), "a fault queued from the form is listed");
  await page.click("#clear-faults");
  await fault.first().waitFor({ state: "detached", timeout: 10_000 });
  check(true, "Clear empties the fault queue");
  await page.screenshot({ path: `${shots}/console-recovered.png`, fullPage: true });

  // The mode: GOST only, as in production.
  check((await page.locator("#mode").getAttribute("class")) === "gost" &&
        (await page.locator("#mode").textContent()).includes("GOST signatures only"),
        "the header shows the GOST-only mode");
  check(await page.locator("#intercept").isHidden(), "and no intercepting mode");

  // Every token kind with its flow, issue time and time left: SmartMarket's too.
  cli("token", "push");
  const push = page.locator('#tokens tr[data-kind="SmartMarket access_token"]');
  await push.first().waitFor({ timeout: 10_000 });
  const left = (await push.first().locator("td.left").textContent()).trim();
  check(/^(29m|30m) \d+s$/.test(left), `the SmartMarket token shows its time left (${left})`);
  check((await push.first().locator("td.flow").textContent()).trim() === "smartmarket.oauth",
        "and the endpoint that issued it");
  const lineLeft = (await row.locator("td.left").textContent()).trim();
  check(/^9h 5\dm$/.test(lineLeft), `the SUZ token shows about 10 hours left (${lineLeft})`);
  check((await row.locator("td.issued").textContent()).trim().length === 12, "and when it was issued");
  await page.screenshot({ path: `${shots}/console-tokens.png`, fullPage: true });

  // A fault from the whole form (status, Retry-After): the answer it makes is marked as
  // injected, and opening the request shows both sides, the token masked.
  await page.selectOption("#fault-endpoint", "suz.ping");
  await page.selectOption("#fault-kind", "html");
  await page.fill('#fault-form input[name="status"]', "503");
  await page.fill('#fault-form input[name="times"]', "1");
  await page.fill('#fault-form input[name="retry_after"]', "30");
  await page.click("#queue-fault");
  await page.locator("#faults tbody tr", { hasText: "html" }).first().waitFor({ timeout: 10_000 });
  const secretToken = "c0ffee00-1111-2222-3333-444455556666";
  const direct = await fetch(`${url}/suz/api/v2/pharma/ping?omsId=${omsId}`, { headers: { clientToken: secretToken } });
  check(direct.status === 503 && direct.headers.get("retry-after") === "30", "the queued fault answered 503 with Retry-After");
  const injected = page.locator('#requests tr[data-fault="html 503"]');
  await injected.first().waitFor({ timeout: 10_000 });
  check((await injected.first().locator(".badge").textContent()) === "injected: html 503",
        "the request log marks the answer as an injected fault, not an outage");
  await injected.first().click();
  await page.waitForFunction(() => document.getElementById("detail").className === "shown", null, { timeout: 5_000 });
  const requestHeaders = await page.locator("#detail-request-headers").textContent();
  check(requestHeaders.includes("clientToken: c0ff…") && !(await page.content()).includes(secretToken),
        "the opened request shows its headers with the token masked");
  const answerBody = await page.locator("#detail-answer-body").textContent();
  check(answerBody.includes("<title>503 Service Unavailable</title>") &&
        (await page.locator("#detail-answer-headers").textContent()).includes("Retry-After: 30"),
        "and the whole answer: nginx's 503 page, Retry-After");
  check((await page.locator("#detail-answer").textContent()).includes("injected: html 503"),
        "the detail says the answer was injected");
  await page.screenshot({ path: `${shots}/console-fault.png`, fullPage: true });

  // Filters: injected faults only, then 2xx only.
  await page.selectOption("#filter-status", "fault");
  await page.waitForFunction(() => [...document.querySelectorAll("#requests tbody tr[data-index]")]
    .every((tr) => tr.dataset.fault), null, { timeout: 5_000 });
  check(await page.locator("#requests tbody tr[data-index]").count() === 1, "the fault filter lists the one injected answer");
  await page.selectOption("#filter-status", "2");
  await page.waitForFunction(() => [...document.querySelectorAll("#requests tbody tr[data-index]")]
    .every((tr) => tr.dataset.status.startsWith("2")), null, { timeout: 5_000 });
  check(await page.locator("#requests tbody tr[data-index]").count() > 0, "the 2xx filter lists only successes");
  await page.selectOption("#filter-status", "");
  await page.selectOption("#filter-endpoint", "smartmarket.oauth");
  await page.waitForFunction(() => [...document.querySelectorAll("#requests tbody tr[data-index]")]
    .every((tr) => tr.dataset.endpoint === "smartmarket.oauth"), null, { timeout: 5_000 });
  check(true, "the endpoint filter lists one endpoint's requests");
  await page.selectOption("#filter-endpoint", "");

  // Pause: nothing new is drawn until resumed.
  await page.click("#pause");
  const rowsPaused = await page.locator("#requests tbody tr[data-index]").count();
  await fetch(`${url}/gismt/api/v3/auth/cert/key`);
  await page.waitForTimeout(1500);
  check(await page.locator("#requests tbody tr[data-index]").count() === rowsPaused, "Pause holds the view");
  await page.click("#pause");
  await page.locator('#requests tr[data-endpoint="gismt.key"]').first().waitFor({ timeout: 10_000 });
  check(true, "Resume draws what came meanwhile");

  // Reset: tokens and the log are forgotten.
  await page.click("#reset");
  await page.locator("#tokens tbody td.empty").waitFor({ timeout: 10_000 });
  check(await page.locator("#requests tbody tr[data-index]").count() === 0, "Reset forgets the tokens and the request log");
  check(errors.length === 0, `no script error on the page ${errors.join("; ")}`);
} catch (e) {
  failed = e;
  await page.screenshot({ path: `${shots}/console-failed.png`, fullPage: true }).catch(() => {});
} finally {
  await browser.close();
}
if (failed) {
  console.error(String(failed.stack || failed));
  console.log(`console: ${passed} passed, 1 failed`);
  process.exit(1);
}
console.log(`console: ${passed} passed`);
