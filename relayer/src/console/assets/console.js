// Ferry's console: reads the /v1 API every few seconds and tracks transfers by tx hash.
// Everything shown is set with textContent: names and reasons never become markup.
"use strict";

const REFRESH_MS = 3000;
const TRACK_MS = 2000;
const tracked = new Map(); // key "chain/hash" -> { li, timer }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c));
  return e;
}

async function getJson(path) {
  const r = await fetch(path, { headers: { accept: "application/json" } });
  const body = await r.json().catch(() => null);
  return { status: r.status, body };
}

function age(secs) {
  if (!secs) return "–";
  if (secs < 60) return `${secs.toFixed(0)} s`;
  if (secs < 3600) return `${(secs / 60).toFixed(1)} min`;
  return `${(secs / 3600).toFixed(1)} h`;
}

function runway(secs) {
  if (secs === null || secs === undefined) return "nothing spent yet";
  const days = secs / 86400;
  return days >= 1 ? `${days.toFixed(1)} days` : age(secs);
}

function problem(text) {
  const p = document.getElementById("problem");
  p.hidden = !text;
  p.textContent = text || "";
}

function renderPaths(paths) {
  const body = document.querySelector("#paths tbody");
  body.replaceChildren(
    ...paths.map((p) => {
      const backlog = p.lanes.map((l) => `${l.direction}: ${l.backlog}`).join(", ") || "–";
      const oldest = Math.max(0, ...p.lanes.map((l) => l.oldest_age_seconds));
      const owners = [...new Set(p.lanes.map((l) => l.owner).filter(Boolean))].join(", ") || "this instance";
      const cls = p.state === "relaying" ? "ok" : p.state === "waiting" ? "warn" : "bad";
      const state = el("span", { class: `badge ${cls}`, title: p.reason || "" }, p.state);
      return el(
        "tr",
        { "data-path": p.name },
        el("td", {}, p.name),
        el("td", {}, `${p.chain_a} ⇄ ${p.chain_b}`),
        el("td", { class: "state" }, state),
        el("td", { class: "backlog" }, backlog),
        el("td", {}, age(oldest)),
        el("td", {}, owners),
      );
    }),
  );
}

function renderChains(chains) {
  const body = document.querySelector("#chains tbody");
  body.replaceChildren(
    ...chains.map((c) => {
      const w = c.wallet;
      const rpc = el("span", { class: `badge ${c.rpc_up ? "ok" : "bad"}` }, c.rpc_up ? "up" : "down");
      return el(
        "tr",
        { "data-chain": c.id },
        el("td", {}, `${c.id} (${c.kind})`),
        el("td", {}, c.latest_height),
        el("td", {}, rpc),
        el("td", {}, w ? `${w.balance} ${w.denom}` : "not sampled yet"),
        el("td", {}, w ? runway(w.runway_seconds) : "–"),
        el("td", {}, c.txs_confirmed),
        el("td", {}, w ? `${c.fees_paid} ${w.denom}` : "–"),
      );
    }),
  );
  const select = document.getElementById("track-chain");
  if (select.options.length !== chains.length) {
    select.replaceChildren(...chains.map((c) => el("option", { value: c.id }, c.id)));
  }
}

async function refresh() {
  try {
    const [paths, chains, ready] = await Promise.all([
      getJson("/v1/paths"),
      getJson("/v1/chains"),
      fetch("/readyz").then((r) => r.ok),
    ]);
    renderPaths(paths.body.paths);
    renderChains(chains.body.chains);
    const badge = document.getElementById("ready");
    badge.textContent = ready ? "ready" : "not ready";
    badge.className = `badge ${ready ? "ok" : "bad"}`;
    document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    problem("");
  } catch (e) {
    problem(`cannot reach Ferry: ${e}`);
  }
}

function renderTransfer(li, v) {
  const steps = el(
    "div",
    { class: "steps" },
    ...v.timeline.map((s) => el("span", { class: `step${s.done ? " done" : ""}`, "data-step": s.step }, s.step.replace("_", " "))),
  );
  let outcome = "";
  if (v.ack_ok === false) outcome = ` — failed on ${v.destination_chain}, refunded: ${v.ack_error || "error acknowledgement"}`;
  li.replaceChildren(
    el("div", {}, el("span", { class: "hash" }, v.tx_hash), ` on ${v.source_chain} → ${v.destination_chain} (path ${v.path}, packet ${v.sequence})`),
    el("div", {}, "state: ", el("strong", { class: "state" }, v.state.replace("_", " ")), outcome),
    steps,
  );
}

async function poll(key, chain, hash) {
  const entry = tracked.get(key);
  if (!entry) return;
  const { status, body } = await getJson(`/v1/transfers/${encodeURIComponent(chain)}/${encodeURIComponent(hash)}`).catch(
    (e) => ({ status: 0, body: { error: String(e) } }),
  );
  if (status === 200) {
    renderTransfer(entry.li, body);
    if (body.finished) return;
  } else {
    entry.li.querySelector(".state").textContent = body && body.error ? body.error : `error ${status}`;
    if (status >= 400 && status < 500) return;
  }
  entry.timer = setTimeout(() => poll(key, chain, hash), TRACK_MS);
}

function track(event) {
  event.preventDefault();
  const chain = document.getElementById("track-chain").value;
  const hash = document.getElementById("track-hash").value.trim();
  const err = document.getElementById("track-error");
  const valid = /^(0x)?[0-9a-fA-F]{64}$/.test(hash);
  err.hidden = valid;
  err.textContent = valid ? "" : "a tx hash is 64 hex digits (0x and 64 on EVM chains)";
  if (!valid) return;
  const key = `${chain}/${hash}`;
  if (tracked.has(key)) return;
  const li = el("li", { "data-tx": hash }, el("span", { class: "hash" }, hash), " — ", el("span", { class: "state" }, "looking it up…"));
  document.getElementById("transfers").prepend(li);
  tracked.set(key, { li, timer: null });
  poll(key, chain, hash);
}

async function start() {
  document.getElementById("track").addEventListener("submit", track);
  const v = await getJson("/v1/version").catch(() => null);
  if (v && v.body) {
    document.getElementById("version").textContent = `v${v.body.version}${v.body.instance ? ` · ${v.body.instance}` : ""}`;
  }
  await refresh();
  setInterval(refresh, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", start);
