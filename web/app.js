// SPDX-License-Identifier: MIT
// The upgate dashboard: plain JavaScript, no libraries, nothing fetched
// from anywhere but upgate-mgmtd. The admin token lives in sessionStorage
// (this tab only) and goes out as a bearer token; the live stream is read
// with fetch() so it can carry the same header.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "upgate.token";
const state = { token: sessionStorage.getItem(KEY), after: null, streaming: false, role: null };

/* What the token's role may do (SPEC "Tokens, roles and the audit log"):
 * resuming a halt, test alerts and the audit log are an admin's. */
function isAdmin() {
  return state.role === "admin";
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells, cls) {
  const tr = el("tr", null, cls);
  for (const c of cells) {
    const td = el("td");
    if (c instanceof Node) td.appendChild(c); else td.textContent = c ?? "-";
    tr.appendChild(td);
  }
  return tr;
}

// Put rows in a table; with none, one line says so and the column
// headers go (no header over nothing).
function fill(table, rows) {
  const body = table.tBodies[0];
  const empty = rows.length === 0;
  if (empty) {
    const td = el("td", table.dataset.empty || "Nothing yet.", "note");
    td.colSpan = table.tHead.rows[0].cells.length;
    const tr = document.createElement("tr");
    tr.append(td);
    rows = [tr];
  }
  table.tHead.hidden = empty;
  body.replaceChildren(...rows);
}

function when(t) {
  if (!t) return "-";
  return t.replace("T", " ").replace("Z", "");
}

function pct(x) {
  return (100 * (x || 0)).toFixed(1) + "%";
}

function rateBar(x) {
  const wrap = el("span");
  const bar = el("span", null, "rate");
  const fillEl = el("span");
  fillEl.style.width = Math.min(100, 100 * (x || 0)) + "%";
  bar.appendChild(fillEl);
  wrap.append(bar, pct(x));
  return wrap;
}

// A from_version for people: the API's 0.0.0 is a first install.
function fromVersion(v) {
  return v === "0.0.0" ? "(first install)" : (v || "?");
}

// Bytes in KiB, MiB or GiB, for people.
function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  for (n = n || 0; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}

// What deltas saved a release: the bytes, and how many upgrades used one.
function saved(s) {
  if (!s.deltas) return "-";
  return bytes(s.bytes_saved) + " (" + s.deltas + " upgrade" + (s.deltas === 1 ? "" : "s") + ")";
}

class AuthError extends Error {}

async function api(path, opts = {}) {
  const headers = { Authorization: "Bearer " + state.token };
  if (opts.body) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method: opts.method || "GET", headers, body: opts.body });
  if (res.status === 401) { logout("The token was refused."); throw new AuthError(); }
  const doc = await res.json().catch(() => null);
  if (!res.ok) {
    const msg = doc && doc.error ? doc.error.message : "HTTP " + res.status;
    throw new Error(msg);
  }
  return doc;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

// ---- views -------------------------------------------------------------

let apps = [];

async function loadReleases() {
  const doc = await api("/v1/stats");
  // Channel, state and rollout are the gateway's; without it, "-".
  let rels = [];
  try { rels = (await api("/v1/releases")).releases; } catch (e) {
    if (e instanceof AuthError) throw e;
  }
  const stats = new Map(doc.stats.map((s) => [s.app + " " + s.version, s]));
  const none = { total: 0, succeeded: 0, failed: 0, timed_out: 0, failure_rate: 0, deltas: 0 };
  const rows = rels.map((r) => [r, stats.get(r.app + " " + r.version) || none]);
  const shown = new Set(rels.map((r) => r.app + " " + r.version));
  for (const s of doc.stats)
    if (!shown.has(s.app + " " + s.version)) rows.push([{ app: s.app, version: s.version }, s]);
  fill($("releases"), rows.map(([r, s]) => row([r.app, r.version, r.channel || "-",
    r.state ? el("span", r.state, "state-" + r.state) : "-",
    r.rollout_percent === undefined ? "-" : r.rollout_percent + "%",
    s.total, s.succeeded, s.failed, s.timed_out, rateBar(s.failure_rate), saved(s)])));
  const names = [...new Set(doc.stats.map((s) => s.app))].sort();
  if (names.join() !== apps.join()) {
    apps = names;
    for (const id of ["chart-app", "f-app"]) {
      const sel = $(id), keep = sel.value;
      sel.replaceChildren(sel.options[0]);
      for (const a of apps) sel.appendChild(el("option", a));
      sel.value = keep;
    }
  }
}

async function loadHalted() {
  try {
    const doc = await api("/v1/halted");
    $("halted-note").textContent = doc.releases.length ? "" : "No release is halted.";
    $("halted").hidden = !doc.releases.length; /* no header over nothing */
    fill($("halted"), doc.releases.map((r) => {
      const b = el("button", "Resume");
      b.type = "button";
      b.className = "resume";
      b.disabled = !isAdmin();
      if (!isAdmin()) b.title = "Resuming a halted release needs the admin role";
      b.addEventListener("click", () => resume(r, b));
      return row([r.app, r.version, r.channel, when(r.halted_at), rateBar(r.failure_rate), b]);
    }));
  } catch (e) {
    if (e instanceof AuthError) throw e;
    $("halted-note").textContent = "Halted releases come from the gateway: " + e.message;
    fill($("halted"), []);
    $("halted").hidden = true;
  }
}

async function resume(r, button) {
  button.disabled = true;
  try {
    await api("/v1/halted/" + encodeURIComponent(r.app) + "/" + encodeURIComponent(r.version) +
      "/resume" + query({ channel: r.channel }), { method: "POST" });
    await Promise.all([loadHalted(), loadReleases()]);
  } catch (e) {
    button.disabled = false;
    $("halted-note").textContent = "Resume failed: " + e.message;
  }
}

async function loadChart() {
  const range = $("chart-range").value;
  const doc = await api("/v1/stats/timeline" + query({ app: $("chart-app").value, range }));
  const step = doc.bucket_seconds * 1000;
  const n = range === "7d" ? 28 : 24;
  const last = Math.floor(Date.now() / step) * step;
  const byStart = new Map(doc.buckets.map((b) => [Date.parse(b.start), b]));
  const bars = [];
  for (let i = n - 1; i >= 0; i--) {
    const start = last - i * step;
    bars.push({ start, ...(byStart.get(start) || { succeeded: 0, failed: 0, timed_out: 0 }) });
  }
  drawChart(bars, step);
}

function svg(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function drawChart(bars, step) {
  const chart = $("chart"), W = 760, H = 220, L = 40, B = 24, T = 8;
  const max = Math.max(1, ...bars.map((b) => b.succeeded + b.failed + b.timed_out));
  const bw = (W - L - 8) / bars.length;
  const y = (v) => T + (H - B - T) * (1 - v / max);
  const parts = [svg("line", { x1: L, y1: H - B, x2: W - 4, y2: H - B, stroke: "#aab4bc" })];
  for (const v of [0, max / 2, max]) {
    const t = svg("text", { x: L - 6, y: y(v) + 3, "text-anchor": "end" });
    t.textContent = Math.round(v);
    parts.push(t);
  }
  bars.forEach((b, i) => {
    const x = L + i * bw + 1;
    let base = 0;
    const g = svg("g", { class: "bar" });
    const title = svg("title", {});
    title.textContent = new Date(b.start).toISOString().slice(0, 16).replace("T", " ") +
      " UTC: " + b.succeeded + " succeeded, " + b.failed + " failed, " + b.timed_out +
      " timed out";
    g.appendChild(title);
    for (const [k, color] of [["succeeded", "#2e8540"], ["failed", "#c62828"],
                               ["timed_out", "#ef8f00"]]) {
      if (!b[k]) continue;
      g.appendChild(svg("rect", { x, width: Math.max(1, bw - 2), y: y(base + b[k]),
        height: y(base) - y(base + b[k]), fill: color, "data-kind": k }));
      base += b[k];
    }
    parts.push(g);
    const every = bars.length > 24 ? 4 : 3;
    if (i % every === 0) {
      const d = new Date(b.start);
      const t = svg("text", { x: x + bw / 2, y: H - 8, "text-anchor": "middle" });
      t.textContent = step >= 6 * 3600e3 ? d.toISOString().slice(5, 10) + " " +
        d.toISOString().slice(11, 13) + "h" : d.toISOString().slice(11, 16);
      parts.push(t);
    }
  });
  chart.replaceChildren(...parts);
}

function outcomeRow(o) {
  const to = o.kind === "rollback" ? o.to_version + " (rollback)" : o.to_version;
  const tr = row([when(o.finished_at), o.app, o.client_id, fromVersion(o.from_version), to,
    el("span", o.result, "result-" + o.result), o.error_code], "clickable");
  tr.dataset.outcomeId = o.outcome_id;
  tr.addEventListener("click", () => showDetail(o.outcome_id));
  return tr;
}

function outcomeFilters() {
  return { app: $("f-app").value, result: $("f-result").value,
           client_id: $("f-client").value.trim() };
}

async function loadOutcomes(more) {
  const params = { ...outcomeFilters(), limit: 25 };
  if (more) params.after = state.after;
  const doc = await api("/v1/outcomes" + query(params));
  const rows = doc.outcomes.map(outcomeRow);
  if (more) $("outcomes").tBodies[0].append(...rows); else fill($("outcomes"), rows);
  state.after = doc.next;
  $("more").hidden = !doc.next;
}

// Digests waiting for their group window, with when each goes out.
async function loadDigests() {
  const doc = await api("/v1/alerts/digests");
  const list = $("digests");
  list.replaceChildren(...doc.digests.map((d) => el("li", "Digest pending: " + d.app + " " +
    d.version + ", " + d.failures + " failure" + (d.failures === 1 ? "" : "s") +
    ", goes out at " + when(d.due_at))));
  list.hidden = !doc.digests.length;
}

async function loadAlerts() {
  const doc = await api("/v1/alerts" + query({ state: $("a-state").value, limit: 25 }));
  fill($("alerts"), doc.alerts.map((a) => row([when(a.created_at), a.kind, a.channel,
    a.recipient, el("span", a.state, "state-" + a.state), a.attempts, a.app, a.version,
    a.last_error])));
}

// A test alert through every configured channel; the answer says per
// channel whether it was accepted.
async function testAlert() {
  const out = $("test-result");
  $("test-alert").disabled = true;
  out.hidden = false;
  out.textContent = "Sending a test alert\u2026";
  try {
    const doc = await api("/v1/alerts/test", { method: "POST" });
    out.textContent = doc.results.map((r) => r.channel + " (" + r.recipient + "): " +
      (r.accepted ? "accepted" : "NOT accepted: " + r.error)).join("; ");
  } catch (e) {
    if (!(e instanceof AuthError)) out.textContent = "The test alert failed: " + e.message;
  } finally {
    $("test-alert").disabled = false;
  }
}

async function showDetail(id) {
  const o = await api("/v1/outcomes/" + encodeURIComponent(id));
  $("detail-title").textContent = o.kind === "release_halted"
    ? "Release halted: " + o.app + " " + o.to_version
    : o.app + " " + fromVersion(o.from_version) + " \u2192 " + o.to_version +
      (o.kind === "rollback" ? " (rollback)" : "") + ": " + o.result;
  const dl = $("detail-fields");
  dl.replaceChildren();
  for (const k of ["kind", "outcome_id", "upgrade_id", "client_id", "platform", "channel", "result",
                   "error_code", "message", "started_at", "finished_at", "received_at",
                   "download_ms", "install_ms", "gateway_id"]) {
    if (o[k] === null || o[k] === undefined) continue;
    dl.append(el("dt", k), el("dd", o[k]));
  }
  $("detail-events").replaceChildren(...(o.events || []).map((e) => {
    const li = el("li");
    li.append(el("span", when(e.at), "when"), el("strong", e.state));
    if (e.progress !== null && e.progress !== undefined) li.append(" " + e.progress + "%");
    if (e.error_code) li.append(" " + e.error_code);
    if (e.message) li.append(": " + e.message);
    return li;
  }));
  $("detail").hidden = false;
}

// ---- live ---------------------------------------------------------------

function popup(kind, o) {
  const box = el("div", null, "popup " + kind);
  box.dataset.outcomeId = o.outcome_id;
  const title = kind === "halt" ? "Release halted: " + o.app + " " + o.to_version
    : o.app + ": " + (o.kind === "rollback" ? "rollback" : "upgrade") + " to " + o.to_version +
      " " + (o.result === "timed_out" ? "timed out" : "failed");
  box.append(el("strong", title));
  box.append(el("span", kind === "halt" ? (o.message || "failure rate over the limit")
    : (o.client_id || "?") + " \u2014 " + (o.error_code || "") + (o.message ? ": " + o.message : "")));
  box.append(el("br"), el("small", when(o.finished_at)));
  box.addEventListener("click", () => { showDetail(o.outcome_id); box.remove(); });
  $("popups").prepend(box);
  while ($("popups").children.length > 5) $("popups").lastChild.remove();
  setTimeout(() => box.remove(), 60000);
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => refreshAll().catch(() => {}), 500);
}

function onEvent(type, data) {
  let o;
  try { o = JSON.parse(data); } catch { return; }
  if (type === "test") {
    const box = el("div", null, "popup test");
    box.append(el("strong", o.subject || "Test alert"), el("span", o.text || ""));
    box.addEventListener("click", () => box.remove());
    $("popups").prepend(box);
    setTimeout(() => box.remove(), 60000);
    return;
  }
  if (type !== "failure" && type !== "halt") return;
  popup(type, o);
  refreshSoon();
}

function setLive(on) {
  $("live").textContent = on ? "live" : "reconnecting\u2026";
  $("live").className = "live " + (on ? "on" : "off");
}

// Follow /v1/events/stream; after a drop (mgmtd restarting) reconnect,
// and reload the views, which may have missed something meanwhile.
async function follow() {
  if (state.streaming) return;
  state.streaming = true;
  let first = true;
  while (state.token) {
    try {
      const res = await fetch("/v1/events/stream",
        { headers: { Authorization: "Bearer " + state.token }, cache: "no-store" });
      if (res.status === 401) { logout("The token was refused."); break; }
      if (!res.ok || !res.body) throw new Error("HTTP " + res.status);
      setLive(true);
      if (!first) refreshSoon();
      first = false;
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let pending = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += dec.decode(value, { stream: true });
        let cut;
        while ((cut = pending.indexOf("\n\n")) >= 0) {
          const frame = pending.slice(0, cut);
          pending = pending.slice(cut + 2);
          let type = "message", data = [];
          for (const line of frame.split("\n")) {
            if (line.startsWith("event:")) type = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
          }
          if (data.length) onEvent(type, data.join("\n"));
        }
      }
    } catch (e) { /* dropped: reconnect below */ }
    if (!state.token) break;
    setLive(false);
    await new Promise((r) => setTimeout(r, 1000));
  }
  state.streaming = false;
}

// ---- start --------------------------------------------------------------

async function loadWho() {
  const me = await api("/v1/admin/whoami");
  state.role = me.role;
  $("whoami").textContent = me.name + " (" + me.role + ")";
  $("test-alert").hidden = !isAdmin();
  $("audit-card").hidden = !isAdmin();
}

async function loadAudit() {
  if (!isAdmin()) return;
  const doc = await api("/v1/admin/audit" + query({ limit: 20 }));
  fill($("audit"), doc.audit.map((a) => row([when(a.at), a.token, a.role, a.client,
    a.method + " " + a.path, String(a.status)], a.status >= 400 ? "refused" : "")));
}

async function refreshAll() {
  await loadWho();
  await loadReleases();
  await Promise.all([loadHalted(), loadChart(), loadOutcomes(false), loadAlerts(), loadDigests(),
    loadAudit()]);
}

function logout(message) {
  state.token = null;
  state.role = null;
  $("whoami").textContent = "";
  sessionStorage.removeItem(KEY);
  $("main").hidden = true;
  $("detail").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  setLive(false);
  $("live").textContent = "offline";
}

async function start() {
  $("login").hidden = true;
  $("main").hidden = false;
  $("logout").hidden = false;
  try {
    await refreshAll();
  } catch (e) {
    if (!(e instanceof AuthError)) $("login-error").textContent = e.message;
    return;
  }
  follow();
}

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.token = $("token").value.trim();
  $("token").value = "";
  sessionStorage.setItem(KEY, state.token);
  start();
});
$("logout").addEventListener("click", () => logout());
$("filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadOutcomes(false); });
$("more").addEventListener("click", () => loadOutcomes(true));
$("chart-app").addEventListener("change", () => loadChart());
$("chart-range").addEventListener("change", () => loadChart());
$("a-state").addEventListener("change", () => loadAlerts());
$("test-alert").addEventListener("click", () => testAlert());
$("detail-close").addEventListener("click", () => { $("detail").hidden = true; });

if (state.token) start(); else logout();
