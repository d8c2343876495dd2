"""The inspector's page: one HTML document with its CSS and script inline (no CDN, no external asset), which polls
/_inspector/api/activity every second and merges what changed. Every value is written with textContent, never as
HTML: a source name comes from the URL a sender (through a tunnel, anyone) posted to."""

from __future__ import annotations

from typing import Final

PAGE_HTML: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>heymarket-bridge inspector</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f8fa; }
  header { background: #24292f; color: #fff; padding: 10px 16px; display: flex; gap: 16px; align-items: center; }
  header h1 { font-size: 16px; margin: 0; font-weight: 600; }
  header .live { font-size: 12px; opacity: .8; }
  main { padding: 12px 16px; }
  .filters { display: flex; gap: 12px; margin-bottom: 10px; align-items: center; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #d0d7de; vertical-align: top; }
  th { background: #eaeef2; font-weight: 600; }
  tr.delivery { cursor: pointer; }
  tr.delivery:hover { background: #f3f6f9; }
  .verdict { font-weight: 600; }
  .o-delivered .verdict { color: #1a7f37; } .o-refused .verdict { color: #cf222e; }
  .o-letter .verdict { color: #9a6700; } .o-in-progress .verdict { color: #0969da; }
  tr.details td { background: #fbfcfd; font-size: 13px; }
  ul { margin: 4px 0; padding-left: 18px; }
  .muted { color: #57606a; }
  h2 { font-size: 15px; margin: 18px 0 6px; }
  code { font-family: ui-monospace, monospace; }
</style>
</head>
<body>
<header><h1>heymarket-bridge inspector</h1>
  <span class="live" id="live">connecting...</span></header>
<main>
  <div class="filters">
    <label>Source <select id="source-filter"><option value="">all</option></select></label>
    <label>Outcome <select id="outcome-filter">
      <option value="">all</option><option value="delivered">delivered</option>
      <option value="in progress">in progress</option><option value="letter">letter (DLQ)</option>
      <option value="refused">refused</option></select></label>
    <span class="muted" id="count"></span>
  </div>
  <table id="deliveries">
    <thead><tr><th>Time</th><th>Source</th><th>Status</th><th>Verdict</th><th>Detail</th></tr></thead>
    <tbody></tbody>
  </table>
  <p class="muted">Click a delivery for its contacts (phones masked as in the logs), what the sync function did with
    each, the Heymarket writes stored for it, and its letters.</p>
  <h2>Heymarket requests</h2>
  <table id="requests">
    <thead><tr><th>Time</th><th>Request</th><th>Status</th></tr></thead><tbody></tbody>
  </table>
</main>
<script>
"use strict";
const deliveries = new Map();
const requests = [];
const open = new Set();
let cursor = 0;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}
function clock(epoch) { return new Date(epoch * 1000).toLocaleTimeString(); }

function detailsRow(d) {
  const row = el("tr", undefined, "details");
  const cell = el("td");
  cell.colSpan = 5;
  if (d.contacts.length) {
    cell.append(el("strong", "Contacts"));
    const list = el("ul");
    for (const c of d.contacts) {
      let text = c.phone + " " + c.operation + ": " + c.outcome + (c.reason ? " (" + c.reason + ")" : "");
      if (c.heymarket.length) text += "; Heymarket: " + c.heymarket.map((w) => clock(w.at) + " " + w.op).join(", ");
      list.append(el("li", text, "contact"));
    }
    cell.append(list);
  } else {
    cell.append(el("div", "No contact queued (yet).", "muted"));
  }
  const letters = d.refused.map((r) => "refusal letter " + r)
    .concat(d.contacts.filter((c) => c.outcome === "dead-lettered")
      .map((c) => "dead letter " + c.phone + ": " + c.reason));
  if (letters.length) {
    cell.append(el("strong", "Letters (DLQ)"));
    const list = el("ul");
    for (const letter of letters) list.append(el("li", letter, "letter"));
    cell.append(list);
  }
  cell.append(el("div", "request id " + d.request_id, "muted"));
  row.append(cell);
  return row;
}

function render() {
  const source = document.getElementById("source-filter").value;
  const outcome = document.getElementById("outcome-filter").value;
  const body = document.querySelector("#deliveries tbody");
  body.replaceChildren();
  const sorted = [...deliveries.values()].sort((a, b) => b.seq - a.seq);
  let shown = 0;
  for (const d of sorted) {
    if ((source && d.source !== source) || (outcome && d.outcome !== outcome)) continue;
    shown += 1;
    const row = el("tr", undefined, "delivery o-" + d.outcome.replace(/ /g, "-"));
    row.dataset.source = d.source;
    row.dataset.outcome = d.outcome;
    row.dataset.requestId = d.request_id;
    row.append(el("td", clock(d.at)), el("td", d.source, "source"), el("td", d.status, "status"),
      el("td", d.verdict, "verdict"), el("td", d.detail, "detail"));
    row.addEventListener("click", () => {
      if (open.has(d.request_id)) open.delete(d.request_id); else open.add(d.request_id);
      render();
    });
    body.append(row);
    if (open.has(d.request_id)) body.append(detailsRow(d));
  }
  document.getElementById("count").textContent = shown + " of " + deliveries.size + " deliveries";
  const select = document.getElementById("source-filter");
  const known = new Set([...select.options].map((o) => o.value));
  for (const d of deliveries.values()) {
    if (!known.has(d.source)) { select.append(el("option", d.source)); known.add(d.source); }
  }
  const requestBody = document.querySelector("#requests tbody");
  requestBody.replaceChildren();
  for (const r of requests.slice(0, 200)) {
    const row = el("tr", undefined, "request");
    row.append(el("td", clock(r.at)), el("td", r.method + " " + r.path), el("td", r.status));
    requestBody.append(row);
  }
}

async function poll() {
  try {
    const answer = await fetch("/_inspector/api/activity?after=" + cursor, { cache: "no-store" });
    const data = await answer.json();
    for (const d of data.deliveries) deliveries.set(d.request_id, d);
    requests.unshift(...data.heymarket_requests);
    requests.splice(1000);
    cursor = data.cursor;
    document.getElementById("live").textContent = "live, updated " + new Date().toLocaleTimeString();
    if (data.deliveries.length || data.heymarket_requests.length || cursor === 0) render();
  } catch (error) {
    document.getElementById("live").textContent = "stack not reachable (stopped?): " + error;
  }
  setTimeout(poll, 1000);
}
document.getElementById("source-filter").addEventListener("change", render);
document.getElementById("outcome-filter").addEventListener("change", render);
render();
poll();
</script>
</body>
</html>
"""
