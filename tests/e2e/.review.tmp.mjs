import { chromium } from "playwright-core";
import fs from "node:fs";
const base = fs.readFileSync("/tmp/dsmoke/base", "utf8").trim();
const token = fs.readFileSync("/tmp/dsmoke/data/admin-token", "utf8").trim();
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
for (const [w, h, tag, scheme] of [[390, 844, "phone", "light"], [1280, 900, "desk", "dark"], [1280, 900, "deskl", "light"]]) {
  const ctx = await browser.newContext({ viewport: { width: w, height: h }, colorScheme: scheme });
  const page = await ctx.newPage();
  await page.goto(base + "/login");
  await page.fill("#token", token);
  await page.click("button[type=submit]");
  await page.waitForURL(base + "/");
  for (const [name, url] of [["home", "/"], ["app", "/apps/hello-world"], ["dep2", "/apps/hello-world/deployments/2"], ["empty", "/apps/api"]]) {
    await page.goto(base + url);
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    for (let y = 0, i = 0; y < height && i < 6; y += h, i++) {
      await page.screenshot({ path: `/tmp/review/${tag}-${name}-${i}.png`, clip: { x: 0, y, width: w, height: Math.min(h, height - y) }, fullPage: true });
    }
  }
  await ctx.close();
}
await browser.close();
