// SPDX-License-Identifier: MIT
// The dashboard in Debian's Chromium, headless, against real daemons on
// loopback that tests/integration/test_browser.py runs. That harness does
// what a browser cannot: it posts signed outcomes and restarts mgmtd when
// this script asks ("ASK <what>" on stdout, "OK" back on stdin).
import { chromium } from "playwright-core";
import readline from "node:readline";

const url = process.env.MGMT_URL;
const token = process.env.UPGATE_TOKEN;
const viewer = process.env.VIEWER_TOKEN; // a viewer's named token
const shot = process.env.SCREENSHOT;
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function ask(what) {
  console.log("ASK " + what);
  const { value } = await lines.next();
  if (value !== "OK") throw new Error("harness: " + value);
}

function check(cond, what) {
  if (!cond) throw new Error("failed: " + what);
  console.log("ok " + what);
}

// Only loopback: no DNS, no background traffic (PLATFORM.md).
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--disable-features=AsyncDns,DnsOverHttps"],
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // A refused token or a restarting mgmtd shows as failed loads: those
  // are expected; anything else on the console is a bug.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      errors.push(m.text());
    }
  });
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.hostname !== "127.0.0.1") errors.push("request off loopback: " + r.url());
  });

  await page.goto(url + "/");
  // A wrong token is refused on the login form.
  await page.fill("#token", "not-the-token");
  await page.click("#login-form button");
  await page.waitForSelector("#login-error:has-text('refused')");
  check(true, "a wrong token is refused");
  await page.fill("#token", token);
  await page.click("#login-form button");
  await page.waitForSelector("#main:not([hidden])");
  await page.waitForSelector("#live.on");
  check(await page.locator("#releases tbody tr").count() >= 1, "releases are listed");
  check(await page.locator("#releases tbody td", { hasText: "3.0 MiB (1 upgrade)" }).count() === 1,
    "what deltas saved a release is shown");
  check(await page.locator("#releases tbody .state-halted").count() === 1,
    "a halted release reads as halted in the releases table");
  check(await page.locator("#chart rect").count() >= 1, "the chart has bars");
  check(await page.locator("#halted tbody tr").count() === 1, "a halted release is listed");
  // The seeds' second failure waits for the first one's group window.
  await page.waitForSelector("#digests:not([hidden]) li");
  check(/^Digest pending: .* goes out at \S+/.test(await page.textContent("#digests li")),
    "a pending digest is shown with its send time");

  // A failure posted now pops up.
  let t0 = Date.now();
  await ask("failure browser-client-1");
  const pop = page.locator(".popup", { hasText: "browser-client-1" });
  await pop.waitFor({ timeout: 15000 });
  console.log("popup after " + (Date.now() - t0) + " ms");
  check((await pop.textContent()).includes("sha256_mismatch"), "the pop-up names the error");

  // Its detail: fields and the event timeline.
  await pop.click();
  await page.waitForSelector("#detail:not([hidden])");
  await page.waitForSelector("#detail-events li");
  const detail = await page.textContent("#detail");
  check(detail.includes("browser-client-1") && detail.includes("downloading"),
    "the detail shows the client and the event timeline");
  await page.click("#detail-close");

  // Filters: result and client.
  await page.selectOption("#f-result", "failed");
  await page.fill("#f-client", "browser-client-1");
  await page.click("#apply");
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll("#outcomes tbody tr")];
    return rows.length === 1 && rows[0].textContent.includes("browser-client-1");
  });
  check(true, "filtering by result and client");
  await page.selectOption("#f-result", "");
  await page.fill("#f-client", "");
  await page.click("#apply");
  await page.waitForFunction(() => document.querySelectorAll("#outcomes tbody tr").length > 1);

  // A test alert from the button: each channel's answer, and its pop-up.
  await page.click("#test-alert");
  await page.waitForSelector("#test-result:has-text('popup (dashboard): accepted')");
  await page.locator(".popup.test", { hasText: "TEST alert" }).waitFor({ timeout: 15000 });
  check((await page.textContent("#test-result")).includes("email (ops@example.com): accepted"),
    "a test alert reports per channel");

  check(await page.isVisible("#audit-card"), "an admin sees the audit log");
  check((await page.textContent("#whoami")).includes("admin (admin)"), "who is logged in");

  // Resume the halted release through the gateway.
  await page.click("#halted button.resume");
  await page.waitForSelector("#halted-note:has-text('No release is halted')");
  await page.waitForSelector("#releases tbody .state-active");
  check(true, "resume from the dashboard, and the release reads as active");
  check(await page.isHidden("#halted"), "no table header over an empty list");

  // At 1280 px no card's content runs off its right edge.
  const over = await page.evaluate(() => [...document.querySelectorAll("main .card")]
    .filter((c) => !c.hidden && c.scrollWidth > c.clientWidth + 1).map((c) => c.id));
  check(over.length === 0, "no card overflows at 1280 px" + (over.length ? ": " + over : ""));
  await page.setViewportSize({ width: 1920, height: 1000 });
  const wide = await page.evaluate(() => [...document.querySelectorAll("main .card")]
    .filter((c) => !c.hidden && c.scrollWidth > c.clientWidth + 1).map((c) => c.id));
  check(wide.length === 0, "no card overflows at 1920 px" + (wide.length ? ": " + wide : ""));
  await page.setViewportSize({ width: 1280, height: 1000 });
  const icon = await page.evaluate(async () => (await fetch("/favicon.ico")).status);
  check(icon === 200, "a favicon");

  await page.screenshot({ path: shot, fullPage: true });
  console.log("screenshot " + shot);

  // mgmtd restarts: the page reconnects and pops up the next failure.
  await ask("restart");
  await page.waitForSelector("#live.on", { timeout: 20000 });
  t0 = Date.now();
  await ask("failure browser-client-2");
  await page.locator(".popup", { hasText: "browser-client-2" }).waitFor({ timeout: 15000 });
  console.log("popup after restart " + (Date.now() - t0) + " ms");
  check(true, "reconnected after mgmtd restarted");

  // A viewer sees everything and can change nothing.
  await ask("halt");
  await page.click("#logout");
  await page.fill("#token", viewer);
  await page.click("#login-form button");
  await page.waitForSelector("#main:not([hidden])");
  await page.waitForSelector("#whoami:has-text('(viewer)')");
  await page.waitForSelector("#halted button.resume");
  check(await page.isDisabled("#halted button.resume"), "a viewer cannot resume a halt");
  check(!(await page.isVisible("#test-alert")), "nor send a test alert");
  check(!(await page.isVisible("#audit-card")), "nor read the audit log");
  await page.waitForFunction(() => document.querySelectorAll("#outcomes tbody tr").length > 1);
  check(true, "a viewer reads the outcomes");
  check(errors.length === 0, "no page errors: " + errors.join("; "));
} catch (e) {
  failed = true;
  console.log("FAIL " + e.message);
} finally {
  await browser.close();
  console.log(failed ? "RESULT fail" : "RESULT pass");
  process.exit(failed ? 1 : 0);
}
