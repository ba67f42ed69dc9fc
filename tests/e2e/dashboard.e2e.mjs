// End-to-end test of the dashboard in a real headless Chromium (Debian's, driven by playwright-core).
//
// It starts the real `slipway serve` on free ports in a temporary data dir and does what a person
// would: logs in (first with a wrong token), creates an app, reads the FTP host and user off the
// page (and logs in over FTP with them), sets PIP_FIND_LINKS / PIP_NO_INDEX / PYTHON_VERSION through
// the settings forms, pushes with the real git client, watches the deployment succeed on the page,
// checks that a commit message with <script> renders as text, presses "Reset Python environment"
// and sees a new clean-env deployment succeed, looks at the pages on a phone-sized screen, and logs
// out. Screenshots of every main page go to target/e2e-screenshots/ for a reviewer.
//
// Run it with scripts/e2e.sh (which installs chromium and playwright-core first).

import { spawn, execFileSync } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../..");
const bin = process.env.SLIPWAY_BIN || path.join(repoRoot, "target/debug/slipway");
const shots = process.env.E2E_SCREENSHOTS || path.join(repoRoot, "target/e2e-screenshots");
const wheelhouse = fs.realpathSync(process.env.SLIPWAY_WHEELHOUSE || path.join(repoRoot, "../shared/wheelhouse"));
const uv = path.join(repoRoot, ".tools/bin/uv");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const APP = "shop";
const SCRIPT_MESSAGE = `<script>alert(1)</script> first deploy & "quotes"`;
const ODD_VALUE = `<b>"'&`;
const DEPLOY_TIMEOUT = 240_000;

// A standard-library web app, started as `python app.py` (the same as PLAIN_APP in tests/it).
// It takes two seconds to start, so that the page has a running deployment to follow.
const APP_PY = `import os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"v1 python {sys.version_info[0]}.{sys.version_info[1]}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

time.sleep(2)
print("shop is starting", flush=True)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
`;

let passed = 0;
const problems = [];
let page;

function log(message) {
  console.log(`e2e: ${message}`);
}

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
  passed += 1;
  log(`ok - ${what}`);
}

async function shot(name, target = page) {
  const file = path.join(shots, `${name}.png`);
  // A page is taken whole; a locator is taken as it is.
  await target.screenshot(typeof target.goto === "function" ? { path: file, fullPage: true } : { path: file });
  log(`screenshot ${path.relative(repoRoot, file)}`);
}

// ---- the server ----

/** The server's environment: ours, with slipway's uv, and no pip settings (the app's settings say). */
function serverEnv() {
  const env = { ...process.env, SLIPWAY_UV: uv };
  delete env.PIP_FIND_LINKS;
  delete env.PIP_NO_INDEX;
  return env;
}

async function startServer(dataDir) {
  const stderr = fs.openSync(path.join(dataDir, "..", "server-stderr.log"), "a");
  const child = spawn(bin, ["serve", "--http", "127.0.0.1:0", "--ftp", "127.0.0.1:0", "--data-dir", dataDir], {
    env: serverEnv(),
    stdio: ["ignore", "pipe", stderr],
  });
  const lines = readline.createInterface({ input: child.stdout });
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the server did not print its address in 60s")), 60_000);
    child.once("exit", (code) => reject(new Error(`slipway serve exited early with ${code}`)));
    lines.on("line", (line) => {
      const match = line.match(/^slipway listening on (http:\/\/\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  return { child, base };
}

async function stopServer(child) {
  if (child.exitCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  await once(child, "exit");
  clearTimeout(timer);
}

// ---- peers: git, FTP, the proxied app ----

function git(dir, args, extraEnv = {}) {
  return execFileSync("git", args, {
    cwd: dir,
    env: {
      ...process.env,
      GIT_TERMINAL_PROMPT: "0",
      GIT_AUTHOR_NAME: "Ada Tester",
      GIT_AUTHOR_EMAIL: "ada@example.com",
      GIT_COMMITTER_NAME: "Ada Tester",
      GIT_COMMITTER_EMAIL: "ada@example.com",
      ...extraEnv,
    },
    encoding: "utf8",
  });
}

function pushInBackground(dir, url) {
  const child = spawn("git", ["push", url, "main"], { cwd: dir, env: { ...process.env, GIT_TERMINAL_PROMPT: "0" } });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const done = new Promise((resolve) => child.on("exit", (code) => resolve({ code, output })));
  return { done };
}

/** Logs in over FTP with the host and user read off the page; returns the server's answer to PASS. */
async function ftpLogin(host, port, user, password) {
  const socket = net.connect(port, host);
  socket.setEncoding("utf8");
  const replies = [];
  let buffer = "";
  let wake = () => {};
  socket.on("data", (chunk) => {
    buffer += chunk;
    let newline;
    while ((newline = buffer.indexOf("\r\n")) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 2);
      if (/^\d{3} /.test(line)) replies.push(line);
    }
    wake();
  });
  const next = async () => {
    const deadline = Date.now() + 10_000;
    while (replies.length === 0) {
      if (Date.now() > deadline) throw new Error("no FTP reply in 10s");
      await new Promise((r) => { wake = r; setTimeout(r, 200); });
    }
    return replies.shift();
  };
  try {
    await next(); // 220 greeting
    socket.write(`USER ${user}\r\n`);
    await next(); // 331
    socket.write(`PASS ${password}\r\n`);
    const answer = await next();
    socket.write("QUIT\r\n");
    return answer;
  } finally {
    socket.destroy();
  }
}

function getThroughProxy(base, app, path = "/", host = `${app}.localhost`) {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const request = http.get({ host: "127.0.0.1", port, path, headers: { Host: `${host}:${port}` } }, (response) => {
      let body = "";
      response.on("data", (d) => (body += d));
      response.on("end", () => resolve({ status: response.statusCode, body }));
    });
    request.on("error", reject);
    request.setTimeout(15_000, () => request.destroy(new Error("proxy request timed out")));
  });
}

/** The admin API, for set-up the pages are not about. */
async function api(base, token, method, route, body) {
  const response = await fetch(`${base}/api${route}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} /api${route}: ${response.status} ${await response.text()}`);
  return response.json();
}

// ---- page helpers ----

async function text(selector) {
  return (await page.locator(selector).first().textContent()).trim();
}

async function waitForDeploymentOnAppPage(base, minCount) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    await page.goto(`${base}/apps/${APP}`);
    const count = await page.locator("tr[data-deployment]").count();
    if (count >= minCount) return;
    if (Date.now() > deadline) throw new Error(`no deployment ${minCount} on the app page after 60s`);
    await page.waitForTimeout(400);
  }
}

async function waitForSuccess(what) {
  // The page's script follows the log and reloads when the deployment ends; wait for that.
  const status = page.locator("#deployment-status[data-status]");
  const deadline = Date.now() + DEPLOY_TIMEOUT;
  for (;;) {
    const value = await status.getAttribute("data-status").catch(() => null);
    if (value === "succeeded") break;
    if (value === "failed") throw new Error(`${what} failed:\n${await text("#log")}`);
    if (Date.now() > deadline) throw new Error(`${what} did not finish in time (status ${value})`);
    await page.waitForTimeout(300);
  }
  // After the reload, a finished deployment's page shows its step timings.
  await page.waitForSelector("#steps", { timeout: 30_000 });
}

// ---- the scenario ----

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  for (const old of fs.readdirSync(shots)) if (old.endsWith(".png")) fs.rmSync(path.join(shots, old));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "slipway-e2e-"));
  const dataDir = path.join(work, "data");
  const { child: server, base } = await startServer(dataDir);
  log(`server at ${base}, data dir ${dataDir}`);
  const token = fs.readFileSync(path.join(dataDir, "admin-token"), "utf8").trim();

  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // Generous: CI runs this beside the rest of the suite on two cores.
    context.setDefaultTimeout(60_000);
    context.setDefaultNavigationTimeout(60_000);
    page = await context.newPage();
    page.on("dialog", async (dialog) => {
      problems.push(`a dialog opened: ${dialog.message()} (script injection?)`);
      await dialog.dismiss();
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error" && !/Failed to load resource/.test(message.text())) problems.push(`console error: ${message.text()}`);
    });

    // Login: the dashboard sends us there, a wrong token gets a message and no cookie.
    await page.goto(`${base}/`);
    check(new URL(page.url()).pathname === "/login", "an anonymous visit to / lands on /login");
    await shot("01-login");
    await page.fill("#token", "not-the-token");
    await page.click("button[type=submit]");
    await page.waitForSelector("#login-error");
    check((await context.cookies()).every((c) => c.name !== "slipway_session"), "a wrong token gets no session cookie");
    await shot("02-login-wrong-token");
    await page.fill("#token", token);
    await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);
    const cookie = (await context.cookies()).find((c) => c.name === "slipway_session");
    check(cookie && cookie.httpOnly && cookie.sameSite === "Strict" && cookie.value !== token, "the admin token gets an HttpOnly, SameSite=Strict session cookie (not the token)");
    await shot("03-apps-empty");

    // Create an app: the password is shown once, with the git remote command.
    await page.fill("#app-name", APP);
    await Promise.all([page.waitForURL(`${base}/apps/${APP}`), page.click("#create-app button[type=submit]")]);
    const password = await text("#new-password");
    const remote = await text("#git-remote-command");
    check(password.length >= 16 && remote.includes(`${APP}:${password}@`) && remote.startsWith("git remote add"), "creating an app shows its password once, with the git remote command");
    check((await page.locator(".copy-button").count()) >= 3, "copy buttons are added beside the values to paste");
    await shot("04-app-created");

    // FTP host and user, read off the page, log in over FTP.
    const ftpHost = await text("#ftp-host");
    const ftpUser = await text("#ftp-user");
    const ftpUrl = new URL(ftpHost);
    check(ftpUrl.protocol === "ftp:" && ftpUser === APP, `the page shows the FTP host (${ftpHost}) and user (${ftpUser})`);
    const ftpAnswer = await ftpLogin(ftpUrl.hostname, Number(ftpUrl.port), ftpUser, password);
    check(ftpAnswer.startsWith("230"), `the FTP host and user from the page log in (${ftpAnswer})`);
    await page.reload();
    check((await page.locator("#new-password").count()) === 0, "the password is not shown again on reload");

    // Settings through the forms: the wheelhouse, and PYTHON_VERSION chosen among the runtimes.
    for (const [key, value] of [["PIP_FIND_LINKS", wheelhouse], ["PIP_NO_INDEX", "1"], ["ODD_VALUE", ODD_VALUE]]) {
      await page.fill("#new-key", key);
      await page.fill("#new-value", value);
      await Promise.all([page.waitForLoadState("load"), page.click("#add-setting button[type=submit]")]);
      await page.waitForSelector(`form.setting-row[data-key="${key}"]`);
    }
    const masked = await page.locator('form.setting-row[data-key="ODD_VALUE"] .setting-value').textContent();
    check(masked.trim() === "••••••••" && (await page.locator('form.setting-row[data-key="ODD_VALUE"] input[name=value]').count()) === 0,
      "a secret value is masked until revealed, with no input that would save the mask");
    check((await page.locator('form.setting-row[data-key="PIP_NO_INDEX"] input[name=value]').inputValue()) === "1", "slipway's own settings are shown as they are");
    await Promise.all([page.waitForLoadState("load"), page.click("#reveal-values")]);
    const storedOdd = await page.locator('form.setting-row[data-key="ODD_VALUE"] input[name=value]').inputValue();
    check(storedOdd === ODD_VALUE && (await page.locator("#settings-list b").count()) === 0, "a setting value with <b>\"'& is shown as typed, not as HTML");
    const options = await page.locator("#python-version option").evaluateAll((os) => os.map((o) => o.value));
    const python = options.includes("3.12") ? "3.12" : options.find((v) => /^\d+\.\d+$/.test(v));
    check(Boolean(python), `PYTHON_VERSION is offered as a choice of the runtimes found (${options.filter(Boolean).join(", ")})`);
    await page.selectOption("#python-version", python);
    await Promise.all([page.waitForLoadState("load"), page.click("#python-form button[type=submit]")]);
    check((await page.locator("#python-version").inputValue()) === python, `PYTHON_VERSION is set to ${python} through the settings form`);
    await shot("05-settings", page.locator("#settings"));

    // Push with the real git client; watch the deployment on the page.
    const repo = path.join(work, "repo");
    fs.mkdirSync(repo);
    git(repo, ["init", "--quiet", "--initial-branch=main"]);
    fs.writeFileSync(path.join(repo, "app.py"), APP_PY);
    fs.writeFileSync(path.join(repo, "requirements.txt"), "six\n");
    git(repo, ["add", "-A"]);
    git(repo, ["commit", "--quiet", "-m", SCRIPT_MESSAGE]);
    const gitUrl = (await text("#git-url")).replace("://", `://${APP}:${password}@`);
    const push = pushInBackground(repo, gitUrl);
    await waitForDeploymentOnAppPage(base, 1);
    await page.click("tr[data-deployment] .deploy-title");
    await page.waitForURL(/\/deployments\/v\d+$/);
    const firstId = Number(page.url().split("/").pop().slice(1));
    const followedLive = (await page.locator("#log[data-follow]").count()) > 0;
    if (followedLive) {
      const before = await page.locator("#log .line").count();
      await shot("06-deployment-running");
      // New lines arrive through the page's script; when the deployment ends it reloads the page.
      const grew = await page
        .waitForFunction((n) => document.querySelector("#log[data-follow]") && document.querySelectorAll("#log .line").length > n, before, { polling: "raf", timeout: DEPLOY_TIMEOUT })
        .then(() => true, () => false);
      check(grew, "the running deployment's log grows on the page as it runs");
    } else {
      log("the deployment had ended before its page opened: live following not seen this time");
    }
    await waitForSuccess(`deployment ${firstId}`);
    const pushed = await push.done;
    check(pushed.code === 0, `git push succeeded${followedLive ? " while the page followed the log live" : ""}`);
    const logText = await text("#log");
    check(logText.includes(`Deployment v${firstId} succeeded.`), "the page shows the deployment's log, ending in success");
    const stepNames = await page.locator("#steps tbody tr td:first-child").allTextContents();
    check(stepNames.includes("total") && stepNames.length >= 3, `the page shows per-step timings (${stepNames.join(", ")})`);
    check((await text("#deployment-message")) === SCRIPT_MESSAGE, "a commit message with <script> renders as text");
    const scripts = await page.locator("script").evaluateAll((ss) => ss.map((s) => s.getAttribute("src")));
    check(scripts.length === 1 && scripts[0].startsWith("/assets/dashboard.js"), "no script element but the dashboard's own");
    await shot("07-deployment-succeeded");

    const served = await getThroughProxy(base, APP);
    check(served.status === 200 && served.body.startsWith(`v1 python ${python}`), `the app answers at ${APP}.localhost on Python ${python} (${served.body.trim()})`);

    // The app page: the deployment, active, with env and the app's output.
    await page.goto(`${base}/apps/${APP}`);
    const row = page.locator(`tr[data-deployment="v${firstId}"]`);
    check((await row.locator(".deploy-message").textContent()) === SCRIPT_MESSAGE && (await row.locator(".pill-active").count()) === 1, "the app page lists the deployment with its message as text and the active marker");
    check((await text("#env-python")).includes(python), `env is on Python ${python}`);
    check((await page.locator("#packages td", { hasText: /^six$/ }).count()) === 1, "env lists its packages with versions (six)");
    check((await text("#process-state")).includes("Running"), "the process is shown as running");
    const envCreatedBefore = await page.locator("#env-created span[title]").getAttribute("title");
    check((await page.locator("#requests-chart rect").count()) > 0 && (await text("#request-numbers")).includes("2xx"), "the requests chart and numbers show the request made through the proxy");
    check((await text("#app-log")).includes("router: method=GET path=\"/\""), "the app's log shows the router's line for it");
    await getThroughProxy(base, APP, "/followed-live");
    const tailed = await page
      .waitForFunction(() => document.querySelector("#app-log").textContent.includes('path="/followed-live"'), null, { timeout: 20_000 })
      .then(() => true, () => false);
    check(tailed, "a new request's router line appears in the open page's log, live");
    await shot("08-app");

    // The app's processes from the page: scale, restart, stop, start.
    await page.fill("#scale-web", "2");
    await Promise.all([page.waitForLoadState("load"), page.click("#scale-form button[type=submit]")]);
    check((await page.locator('tr[data-process="web.2"]').count()) === 1 && (await text(".flash")).includes("Scaled to web × 2"), "the scale form runs a second web process");
    await page.fill("#scale-web", "1");
    await Promise.all([page.waitForLoadState("load"), page.click("#scale-form button[type=submit]")]);
    check((await page.locator('tr[data-process="web.2"]').count()) === 0, "and scales back to one");
    await Promise.all([page.waitForLoadState("load"), page.click("#restart-app")]);
    check((await text(".flash")).includes("Restarted"), "Restart restarts the app");
    await Promise.all([page.waitForLoadState("load"), page.click("#stop-app")]);
    check((await getThroughProxy(base, APP)).status === 502 && (await page.locator("#start-app").count()) === 1, "Stop stops it (the proxy answers 502) and offers Start");
    await Promise.all([page.waitForLoadState("load"), page.click("#start-app")]);
    check((await getThroughProxy(base, APP)).status === 200, "Start starts it again");

    // Domains from the page: add one, the proxy routes it, a malformed one is refused, remove it.
    await page.fill("#new-domain", "www.e2e-shop.test");
    await Promise.all([page.waitForLoadState("load"), page.click("#add-domain button[type=submit]")]);
    check((await page.locator('li[data-domain="www.e2e-shop.test"]').count()) === 1, "Add a domain lists it on the app page");
    const viaDomain = await getThroughProxy(base, APP, "/", "www.e2e-shop.test");
    check(viaDomain.status === 200 && viaDomain.body.startsWith("v1 python"), `the proxy routes the added domain to the app (${viaDomain.status})`);
    await page.fill("#new-domain", "not a domain");
    await Promise.all([page.waitForLoadState("load"), page.click("#add-domain button[type=submit]")]);
    check((await page.locator(".flash").count()) === 1 && (await page.locator('li[data-domain="not a domain"]').count()) === 0, "a malformed domain is refused with a message");
    await Promise.all([page.waitForLoadState("load"), page.click('li[data-domain="www.e2e-shop.test"] button[type=submit]')]);
    check((await page.locator('li[data-domain="www.e2e-shop.test"]').count()) === 0, "Remove takes the domain off the page");
    check((await getThroughProxy(base, APP, "/", "www.e2e-shop.test")).status === 404, "and the proxy no longer routes it (404)");

    // Reset Python environment: confirm, then a new clean-env deployment runs and succeeds.
    await page.click("#reset-env");
    await page.waitForURL(`${base}/apps/${APP}/env/reset`);
    await shot("09-reset-confirm");
    await Promise.all([page.waitForURL(/\/deployments\/v\d+$/), page.click("#confirm-reset")]);
    const resetId = Number(page.url().split("/").pop().slice(1));
    check(resetId > firstId, `the reset started a new deployment (#${resetId})`);
    check((await page.locator("#clean-env-marker").count()) === 1, "the new deployment is marked clean env");
    await waitForSuccess(`reset deployment ${resetId}`);
    check((await text("#log")).includes("A clean env was asked for"), "its log says env was deleted and created afresh");
    check((await page.locator("#active-marker").count()) === 1, "the reset deployment is the active one");
    await shot("10-reset-deployment");
    await page.goto(`${base}/apps/${APP}`);
    const envCreatedAfter = await page.locator("#env-created span[title]").getAttribute("title");
    check(envCreatedAfter !== envCreatedBefore, `env was created anew (${envCreatedBefore} → ${envCreatedAfter})`);
    await shot("11-app-after-reset");
    // Roll back to the first deployment from the table, with no rebuild.
    await Promise.all([page.waitForLoadState("load"), page.click(`[data-rollback="v${firstId}"]`)]);
    check((await text(".flash")).includes(`deployment v${firstId} is live again`) && (await page.locator(`tr[data-deployment="v${firstId}"] .pill-active`).count()) === 1, "Roll back makes the first release live again");
    await page.goto(`${base}/`);
    check((await page.locator(`li[data-app="${APP}"] .badge`, { hasText: "Succeeded" }).count()) === 1, "the app list shows the last deployment's status");
    await shot("12-apps");

    // Cancel a running deployment from the app page: its build stops, the live release stays.
    fs.writeFileSync(path.join(repo, ".deployment"), "[config]\ncommand = deploy.sh\n");
    fs.writeFileSync(path.join(repo, "deploy.sh"), "echo working\nexec sleep 600\n");
    git(repo, ["add", "-A"]);
    git(repo, ["commit", "--quiet", "-m", "a build that hangs"]);
    const hanging = pushInBackground(repo, gitUrl);
    await page.goto(`${base}/apps/${APP}`);
    const cancelDeadline = Date.now() + 60_000;
    while ((await page.locator("[data-cancel]").count()) === 0) {
      if (Date.now() > cancelDeadline) throw new Error("no running deployment to cancel on the app page");
      await page.waitForTimeout(300);
      await page.goto(`${base}/apps/${APP}`);
    }
    await Promise.all([page.waitForURL(/\/deployments\/v\d+$/), page.locator("[data-cancel]").first().click()]);
    const cancelledBy = Date.now() + 60_000;
    while ((await page.locator("#deployment-status").getAttribute("data-status").catch(() => null)) !== "failed") {
      if (Date.now() > cancelledBy) throw new Error("the cancelled deployment did not end");
      await page.waitForTimeout(300);
    }
    check((await text("#log")).includes("cancelled by the operator") && (await hanging.done).code !== 0, "Cancel stops a running deployment and the push is rejected");
    check((await getThroughProxy(base, APP)).status === 200, "the live release keeps serving after the cancel");
    git(repo, ["rm", "--quiet", ".deployment", "deploy.sh"]);
    git(repo, ["commit", "--quiet", "-m", "no hanging build"]);

    // Twenty deployments, as many as are kept: quick failing ones (a PROJECT folder that does not
    // exist fails before anything is built), so the table is seen full on the desktop and phone.
    await api(base, token, "PUT", `/apps/${APP}/settings?restart=false`, { PROJECT: "no-such-folder" });
    for (let listed = (await api(base, token, "GET", `/apps/${APP}/deployments`)).length; listed < 20; listed++) {
      const started = await api(base, token, "POST", `/apps/${APP}/deployments/v${firstId}/redeploy`);
      const until = Date.now() + 60_000;
      while (!["failed", "succeeded"].includes((await api(base, token, "GET", `/apps/${APP}/deployments/v${started.number}`)).status)) {
        if (Date.now() > until) throw new Error(`redeploy v${started.number} did not end`);
        await page.waitForTimeout(100);
      }
    }
    await api(base, token, "DELETE", `/apps/${APP}/settings/PROJECT?restart=false`);
    await page.goto(`${base}/apps/${APP}`);
    const rows = await page.locator("tr[data-deployment]").count();
    check(rows === 20, `the app page lists all 20 kept deployments (${rows})`);
    const tall = await page.evaluate(() => document.querySelector("#deploy-list").getBoundingClientRect().height);
    // Three short lines a row (commit and message, author, reason): a failure's long reason or
    // message is cut to one line, not wrapped into a tall card (it was 165px a row).
    check(tall / rows < 80, `the deployments table stays compact at 20 rows (${Math.round(tall / rows)}px a row)`);
    check((await getThroughProxy(base, APP)).status === 200, "the live release kept serving through the failed deployments");
    await shot("12b-twenty-deployments", page.locator("#deploy-list"));

    // A phone-sized window: nothing wider than the screen.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, storageState: await context.storageState() });
    const phonePage = await phone.newPage();
    for (const [name, url] of [["13-phone-apps", "/"], ["14-phone-app", `/apps/${APP}`], ["15-phone-deployment", `/apps/${APP}/deployments/v${resetId}`]]) {
      await phonePage.goto(`${base}${url}`);
      const overflow = await phonePage.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check(overflow <= 1, `${url} fits a 390px-wide screen (overflow ${overflow}px)`);
      await shot(name, phonePage);
    }
    await phone.close();

    // Without JavaScript: log in, change a setting, redeploy; the running deployment's page
    // refreshes itself (<noscript> meta refresh) until it has ended.
    const plain = await browser.newContext({ viewport: { width: 1024, height: 800 }, javaScriptEnabled: false });
    plain.setDefaultTimeout(60_000);
    const plainPage = await plain.newPage();
    await plainPage.goto(`${base}/login`);
    await plainPage.fill("#token", token);
    await Promise.all([plainPage.waitForURL(`${base}/`), plainPage.click("button[type=submit]")]);
    await plainPage.goto(`${base}/apps/${APP}`);
    check((await plainPage.locator(".copy-button").count()) === 0, "without JavaScript there are no copy buttons, and the values are still there to select");
    await plainPage.fill("#new-key", "NO_JS");
    await plainPage.fill("#new-value", "works");
    await Promise.all([plainPage.waitForLoadState("load"), plainPage.click("#add-setting button[type=submit]")]);
    check((await plainPage.locator('form.setting-row[data-key="NO_JS"]').count()) === 1, "without JavaScript the settings form works");
    await plainPage.goto(`${base}/apps/${APP}/deployments/v${resetId}`);
    await Promise.all([plainPage.waitForURL(/\/deployments\/v\d+$/), plainPage.click("#redeploy")]);
    const plainId = Number(plainPage.url().split("/").pop().slice(1));
    const deadline = Date.now() + DEPLOY_TIMEOUT;
    while ((await plainPage.locator("#deployment-status").getAttribute("data-status").catch(() => null)) !== "succeeded") {
      if (Date.now() > deadline) throw new Error(`redeploy ${plainId} did not show success without JavaScript`);
      await plainPage.waitForTimeout(500);
    }
    check(plainId > resetId, `without JavaScript, a redeploy (#${plainId}) runs and its page refreshes itself until it succeeds`);
    await plain.close();

    // Delete an app: the name must be typed.
    await page.goto(`${base}/`);
    await page.fill("#app-name", "doomed");
    await Promise.all([page.waitForURL(`${base}/apps/doomed`), page.click("#create-app button[type=submit]")]);
    await Promise.all([page.waitForURL(`${base}/apps/doomed/delete`), page.click("#delete-app")]);
    await shot("16-delete-confirm");
    await page.fill("#confirm-name", "doomed");
    await Promise.all([page.waitForURL(`${base}/`), page.click("#confirm-delete")]);
    check((await text(".flash")).includes("Deleted doomed.") && (await page.locator('li[data-app="doomed"]').count()) === 0, "Delete, confirmed by name, removes the app");

    // Log out: the session ends.
    await Promise.all([page.waitForURL(`${base}/login`), page.click(".topnav button")]);
    await page.goto(`${base}/apps/${APP}`);
    check(new URL(page.url()).pathname === "/login", "after logging out the pages ask for the token again");

    check(problems.length === 0, `no dialogs, page errors or console errors${problems.length ? ":\n  " + problems.join("\n  ") : ""}`);
  } catch (error) {
    if (page) {
      await shot("failure").catch(() => {});
      log(`failed on ${page.url()}`);
    }
    if (problems.length) log(`problems seen:\n  ${problems.join("\n  ")}`);
    throw error;
  } finally {
    await browser.close();
    await stopServer(server);
    if (!process.env.E2E_KEEP) fs.rmSync(work, { recursive: true, force: true });
    else log(`kept ${work}`);
  }
}

main().then(
  () => {
    log(`${passed} checks passed, 0 failed`);
  },
  (error) => {
    console.error(`e2e: FAILED after ${passed} checks: ${error.stack || error}`);
    process.exitCode = 1;
  },
);
