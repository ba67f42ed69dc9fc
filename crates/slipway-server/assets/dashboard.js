// slipway dashboard: small conveniences on top of pages that work without JavaScript.
//  - copy buttons beside values you paste elsewhere (URLs, commands, the new password);
//  - a running deployment's log follows live (polling the dashboard's /follow route, which uses
//    the session cookie), and the page reloads when the deployment ends;
//  - the app page reloads when its running deployment ends, and its log shows new lines as they
//    come (polling /apps/APP/logs/follow from the offset the page was rendered at).
"use strict";

(function () {
  const POLL_MS = 1000;

  function addCopyButtons() {
    for (const box of document.querySelectorAll(".copyable")) {
      const source = box.querySelector(".copy-source");
      if (!source || box.querySelector(".copy-button")) continue;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-small copy-button";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy to the clipboard");
      button.addEventListener("click", async () => {
        const text = source.textContent;
        let ok = false;
        try {
          await navigator.clipboard.writeText(text);
          ok = true;
        } catch (_) {
          const range = document.createRange();
          range.selectNodeContents(source);
          const selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
        }
        button.textContent = ok ? "Copied ✓" : "Press Ctrl+C";
        setTimeout(() => { button.textContent = "Copy"; }, 1800);
      });
      box.appendChild(button);
    }
  }

  // The same rules as `line_kind` in src/dashboard/views.rs.
  function lineKind(line) {
    const lower = line.toLowerCase();
    if (line.startsWith("--> ")) return "step";
    if (lower.startsWith("warning")) return "warn";
    if (lower.startsWith("error") || (line.startsWith("Deployment ") && line.includes(" failed")) || line.startsWith("Rollback")) return "error";
    if ((line.startsWith("Deployment ") && line.endsWith(" succeeded.")) || line.startsWith("Rolled back to deployment")) return "ok";
    if (line.startsWith("    ")) return "out";
    return "";
  }

  function setBadge(holder, data) {
    if (!holder) return;
    holder.dataset.status = data.label.toLowerCase();
    const badge = document.createElement("span");
    badge.className = "badge tone-" + data.tone;
    const icon = document.createElement("span");
    icon.className = "badge-icon";
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = data.icon;
    badge.append(icon, " " + data.label);
    holder.replaceChildren(badge);
  }

  async function poll(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const type = response.headers.get("content-type") || "";
    if (!response.ok || !type.includes("application/json")) throw new Error("not following: " + response.status);
    return response.json();
  }

  // Appends lines as text (never HTML), keeping the view at the bottom if it was there.
  function appendLines(pre, text) {
    if (!text) return;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 24;
    const fragment = document.createDocumentFragment();
    for (const line of text.replace(/\n$/, "").split("\n")) {
      const span = document.createElement("span");
      const kind = lineKind(line);
      span.className = kind ? "line line-" + kind : "line";
      span.textContent = line + "\n";
      fragment.appendChild(span);
    }
    pre.appendChild(fragment);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  // The app's log: new lines as they come, for as long as the page is open.
  function tailLog(pre) {
    let offset = Number(pre.dataset.offset || 0);
    const source = pre.dataset.source ? "&source=" + encodeURIComponent(pre.dataset.source) : "";
    const tick = async () => {
      let data;
      try {
        data = await poll(pre.dataset.tail + "?offset=" + offset + source);
      } catch (_) {
        return; // session ended or server gone: the page still works with a reload
      }
      if (data.text) document.getElementById("no-log")?.remove();
      appendLines(pre, data.text);
      offset = data.offset;
      setTimeout(tick, POLL_MS * 2);
    };
    setTimeout(tick, POLL_MS * 2);
  }

  function followLog(pre) {
    let offset = Number(pre.dataset.offset || 0);
    const base = pre.dataset.follow;
    const status = document.getElementById("deployment-status");
    const tick = async () => {
      let data;
      try {
        data = await poll(base + "?offset=" + offset);
      } catch (_) {
        return; // session ended or server gone: the page still works with a reload
      }
      appendLines(pre, data.text);
      offset = data.offset;
      setBadge(status, data);
      if (data.finished) {
        setTimeout(() => window.location.reload(), 400);
      } else {
        setTimeout(tick, POLL_MS);
      }
    };
    pre.scrollTop = pre.scrollHeight;
    setTimeout(tick, POLL_MS);
  }

  function watchUntilFinished(element) {
    const url = element.dataset.watch + "?offset=" + Number.MAX_SAFE_INTEGER;
    const tick = async () => {
      try {
        const data = await poll(url);
        if (data.finished) {
          window.location.reload();
          return;
        }
      } catch (_) {
        return;
      }
      setTimeout(tick, POLL_MS * 2);
    };
    setTimeout(tick, POLL_MS * 2);
  }

  document.addEventListener("DOMContentLoaded", () => {
    addCopyButtons();
    // Logs open at their end: the latest lines are the ones people look for.
    for (const pre of document.querySelectorAll("pre.log")) pre.scrollTop = pre.scrollHeight;
    const log = document.querySelector("pre[data-follow]");
    if (log) followLog(log);
    const tail = document.querySelector("pre[data-tail]");
    if (tail) tailLog(tail);
    const watched = document.querySelector("[data-watch]");
    if (watched) watchUntilFinished(watched);
  });
})();
