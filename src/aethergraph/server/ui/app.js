// The AetherGraph run viewer: plain JavaScript, no build step, no external URLs.
"use strict";

const API = "/api/v1";
const FINAL = new Set(["succeeded", "failed", "cancelled", "interrupted"]);
const STATES = ["pending", "running", "waiting", "succeeded", "failed", "skipped", "cancelled"];
const COLORS = {
  succeeded: "#2f9e44", failed: "#e03131", running: "#1c7ed6", waiting: "#f08c00",
  pending: "#adb5bd", skipped: "#adb5bd", cancelled: "#868e96", interrupted: "#868e96",
};
const view = document.getElementById("view");
let stopView = () => {};

// ---- small helpers ------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(child));
  return el;
}
const badge = (status) => h("span", { class: `badge s-${status}`, "data-status": status }, status);
const when = (ts) => (ts ? new Date(ts * 1000).toLocaleString() : "–");
function duration(start, end) {
  if (!start) return "–";
  const s = (end || Date.now() / 1000) - start;
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
const pretty = (value) => JSON.stringify(value, null, 2);

// ---- the API, with the bearer token kept in this tab's session ---------------------------
function askToken() {
  const dialog = document.getElementById("token-dialog");
  return new Promise((resolve) => {
    document.getElementById("token-form").onsubmit = () => {
      sessionStorage.setItem("aethergraph-token", document.getElementById("token-input").value);
      resolve();
    };
    if (!dialog.open) dialog.showModal();
  });
}
function authHeaders() {
  const token = sessionStorage.getItem("aethergraph-token");
  return token ? { Authorization: `Bearer ${token}` } : {};
}
async function request(path, options = {}) {
  for (;;) {
    const response = await fetch(API + path, {
      ...options, headers: { ...authHeaders(), ...(options.headers || {}) },
    });
    if (response.status === 401) { await askToken(); continue; }
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
      throw new Error(detail);
    }
    return response;
  }
}
const api = async (path, options) => (await request(path, options)).json();
const post = (path, body) => api(path, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
});

// Server-Sent Events over fetch, so the token can travel in a header.
async function follow(path, onEvent, signal) {
  let lastId = 0;
  for (;;) {
    const response = await request(path, {
      signal, headers: lastId ? { "Last-Event-ID": String(lastId) } : {},
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("\n");
        if (!data) continue;
        const event = JSON.parse(data);
        lastId = event.seq;
        onEvent(event);  // the server ends the stream after the run's latest final event
      }
    }
  }
}

function setConnection(text) { document.getElementById("connection").textContent = text; }
function fail(where, error) { where.replaceChildren(h("p", { class: "error" }, String(error.message || error))); }

// ---- routing -----------------------------------------------------------------------------
function route() {
  stopView(); stopView = () => {}; setConnection("");
  const path = decodeURIComponent(location.hash.slice(1)) || "/";
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("active", path.startsWith("/start") ? a.dataset.nav === "start" : a.dataset.nav === "runs" && !path.startsWith("/runs/"));
  }
  if (path.startsWith("/runs/")) runPage(path.slice(6));
  else if (path.startsWith("/start")) startPage(path.slice(7));
  else runsPage();
}
window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);

// ---- the runs list -----------------------------------------------------------------------
async function runsPage() {
  let shown = 50;
  const status = h("select", { id: "filter-status", onchange: () => refresh() },
    h("option", { value: "" }, "any status"), STATES.concat("interrupted").filter((s) => s !== "skipped").map((s) => h("option", { value: s }, s)));
  const graph = h("select", { id: "filter-graph", onchange: () => refresh() }, h("option", { value: "" }, "any graph"));
  const body = h("tbody", { id: "runs" });
  const more = h("button", { onclick: () => { shown += 50; refresh(); } }, "Show more");
  view.replaceChildren(h("div", { class: "card" },
    h("div", { class: "row", style: "margin-bottom:12px" }, h("h1", {}, "Runs"), h("span", { style: "flex:1" }),
      status, graph, h("a", { href: "#/start" }, h("button", { class: "primary" }, "Start a run"))),
    h("table", {}, h("thead", {}, h("tr", {}, ["Status", "Graph", "Run", "Started", "Duration"].map((c) => h("th", {}, c)))), body),
    h("div", { class: "row", style: "margin-top:10px" }, more)));
  api("/graphs").then(({ items }) => graph.append(...items.map((g) => h("option", { value: g.graph_id }, g.graph_id)))).catch(() => {});
  async function refresh() {
    const query = new URLSearchParams({ limit: String(shown) });
    if (status.value) query.set("status", status.value);
    if (graph.value) query.set("graph_id", graph.value);
    try {
      const page = await api(`/runs?${query}`);
      body.replaceChildren(...page.items.map((run) => h("tr", {
        class: "link", "data-run-id": run.run_id, onclick: () => { location.hash = `#/runs/${encodeURIComponent(run.run_id)}`; },
      }, h("td", {}, badge(run.status)), h("td", {}, run.graph_id), h("td", { class: "mono" }, run.run_id),
        h("td", {}, when(run.created_at)), h("td", {}, duration(run.started_at, run.finished_at)))));
      if (!page.items.length) body.replaceChildren(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No runs yet. Start one, or run a graph with `aethergraph run`.")));
      more.hidden = !page.next_cursor;
      setConnection(`updated ${new Date().toLocaleTimeString()}`);
    } catch (error) { setConnection(`offline: ${error.message}`); }
  }
  await refresh();
  const timer = setInterval(refresh, 2000);
  stopView = () => clearInterval(timer);
}

// ---- starting a run ----------------------------------------------------------------------
async function startPage(selected) {
  const card = h("div", { class: "card" }, h("h1", {}, "Start a run"));
  view.replaceChildren(card);
  let graphs;
  try { graphs = (await api("/graphs")).items; } catch (error) { return fail(card, error); }
  if (!graphs.length) { card.append(h("p", { class: "empty" }, "No graphs are defined. Start the server with `aethergraph serve --load-path my_graphs.py`.")); return; }
  const choose = h("select", { id: "start-graph", onchange: () => show(choose.value) },
    graphs.map((g) => h("option", { value: g.graph_id, selected: g.graph_id === selected }, `${g.graph_id} (${g.kind})`)));
  const form = h("form", { id: "start-form" });
  card.append(h("div", { class: "row", style: "margin:12px 0" }, choose), form);
  function show(id) {
    const g = graphs.find((x) => x.graph_id === id);
    const fields = g.inputs.map((input) => h("label", { class: "field" },
      h("span", {}, input.name, h("small", {}, input.required ? "required" : `default ${JSON.stringify(input.default)}`)),
      h("input", { name: input.name, required: input.required, placeholder: "a JSON value, or plain text" })));
    const message = h("p", { class: "error" });
    form.replaceChildren(g.description ? h("p", { class: "muted" }, g.description) : "", ...fields,
      g.inputs.length ? "" : h("p", { class: "muted" }, "This graph takes no inputs."),
      h("button", { class: "primary", type: "submit" }, "Start"), message);
    form.onsubmit = async (e) => {
      e.preventDefault();
      const inputs = {};
      for (const field of form.querySelectorAll("input")) {
        if (field.value === "") continue;
        try { inputs[field.name] = JSON.parse(field.value); } catch (_) { inputs[field.name] = field.value; }
      }
      try {
        const started = await post(`/graphs/${encodeURIComponent(id)}/runs`, { inputs });
        location.hash = `#/runs/${encodeURIComponent(started.run_id)}`;
      } catch (error) { message.textContent = error.message; }
    };
  }
  show(choose.value);
}

// ---- one run -----------------------------------------------------------------------------
async function runPage(runId) {
  const state = { run: null, graph: null, nodes: [], logs: [], memory: [], artifacts: [], waits: [], events: [], tab: "logs" };
  const parts = {
    head: h("div", { class: "card", id: "run-head" }), wait: h("div", { id: "run-wait" }),
    shape: h("div", { class: "card", id: "run-nodes" }), io: h("div", { class: "grid2" }),
    detail: h("div", { class: "card", id: "run-detail" }),
  };
  view.replaceChildren(h("p", {}, h("a", { href: "#/" }, "← All runs")), ...Object.values(parts));
  const controller = new AbortController();
  let timer = null, waitKey = null, closed = false;
  stopView = () => { closed = true; controller.abort(); clearTimeout(timer); };

  async function load() {
    const enc = encodeURIComponent(runId);
    const [run, nodes, logs, memory, artifacts, waits] = await Promise.all([
      api(`/runs/${enc}`), api(`/runs/${enc}/nodes`), api(`/runs/${enc}/logs`), api(`/runs/${enc}/memory`),
      api(`/runs/${enc}/artifacts`), api(`/waits?${new URLSearchParams({ run_id: runId, status: "open" })}`)]);
    Object.assign(state, { run, nodes: nodes.items, logs: logs.items, memory: memory.items, artifacts: artifacts.items, waits: waits.items });
    if (!state.graph) state.graph = await api(`/graphs/${encodeURIComponent(run.graph_id)}`).catch(() => ({ kind: run.kind }));
    render();
  }
  const soon = () => { if (!timer && !closed) timer = setTimeout(() => { timer = null; load().catch(() => {}); }, 120); };

  function render() {
    const r = state.run;
    parts.head.replaceChildren(
      h("div", { class: "row" }, h("h1", {}, r.graph_id), badge(r.status), h("span", { class: "mono muted" }, r.run_id),
        h("span", { style: "flex:1" }),
        FINAL.has(r.status) ? "" : h("button", { id: "cancel", onclick: () => post(`/runs/${encodeURIComponent(runId)}/cancel`).then(soon) }, "Cancel"),
        ["failed", "interrupted"].includes(r.status) ? h("button", { id: "resume", onclick: () => post(`/runs/${encodeURIComponent(runId)}/resume`).then(soon).catch((e) => alert(e.message)) }, "Resume") : ""),
      h("div", { class: "summary" },
        h("div", {}, h("span", {}, "Kind"), state.graph && state.graph.kind || r.kind),
        h("div", {}, h("span", {}, "Started"), when(r.started_at || r.created_at)),
        h("div", {}, h("span", {}, "Duration"), duration(r.started_at, r.finished_at)),
        h("div", {}, h("span", {}, "Session"), r.session_id || "–"),
        r.parent_run_id ? h("div", {}, h("span", {}, "Parent run"), h("a", { href: `#/runs/${encodeURIComponent(r.parent_run_id)}` }, r.parent_run_id)) : ""),
      r.error ? h("p", { class: "error", id: "run-error" }, r.error) : "");
    renderWait();
    const replayed = new Set(state.events.filter((e) => e.type === "node" && e.data.replayed).map((e) => e.data.node_id));
    parts.shape.replaceChildren(...(state.graph && state.graph.spec ? drawGraph(state.graph.spec, withWaits(state.nodes, state.waits)) : drawTimeline(withWaits(state.nodes, state.waits), r, replayed)));
    parts.io.replaceChildren(
      h("div", { class: "card" }, h("h2", {}, "Inputs"), h("pre", { id: "run-inputs" }, pretty(r.inputs))),
      h("div", { class: "card" }, h("h2", {}, "Outputs"), r.outputs ? h("pre", { id: "run-outputs" }, pretty(r.outputs)) : h("p", { class: "empty" }, FINAL.has(r.status) ? "No outputs." : "Not yet.")));
    renderDetail();
  }

  function renderWait() {
    const wait = state.waits[0];
    const key = wait ? wait.wait_id : null;
    if (key === waitKey) return;
    waitKey = key;
    if (!wait) { parts.wait.replaceChildren(); return; }
    const message = h("p", { class: "error" });
    const answer = (body) => post(`/waits/${wait.wait_id.split("/").map(encodeURIComponent).join("/")}/reply`, body)
      .then(() => { parts.wait.querySelectorAll("button").forEach((b) => { b.disabled = true; }); message.textContent = ""; soon(); })
      .catch((error) => { message.textContent = error.message; });
    const text = h("textarea", { id: "wait-text", placeholder: "Your answer" });
    parts.wait.replaceChildren(h("div", { class: "card wait" }, h("h2", {}, `Waiting for an answer · node ${wait.node_id}`),
      h("div", { class: "prompt" }, wait.prompt),
      wait.options && wait.options.length
        ? h("div", { class: "row" }, wait.options.map((option) => h("button", { class: "primary", "data-option": option, onclick: () => answer({ choice: option }) }, option)))
        : h("div", {}, text, h("div", { class: "row", style: "margin-top:8px" }, h("button", { class: "primary", id: "wait-send", onclick: () => answer({ text: text.value }) }, "Send"))),
      message));
  }

  function renderDetail() {
    const tabs = { logs: state.logs.length, events: state.events.length, memory: state.memory.length, artifacts: state.artifacts.length };
    const bar = h("div", { class: "tabs" }, Object.entries(tabs).map(([name, count]) => h("button", {
      class: state.tab === name ? "on" : "", "data-tab": name, onclick: () => { state.tab = name; renderDetail(); },
    }, `${name[0].toUpperCase()}${name.slice(1)} (${count})`)));
    parts.detail.replaceChildren(bar, ({ logs: showLogs, events: showEvents, memory: showMemory, artifacts: showArtifacts })[state.tab]());
  }
  const showLogs = () => table(["Time", "Level", "Node", "Message"], state.logs.map((l) => [
    new Date(l.ts * 1000).toLocaleTimeString(), h("span", { class: `log-${l.level}` }, l.level), l.node_id || "", l.message]), "No log records.");
  const showEvents = () => table(["#", "Time", "Type", "Data"], state.events.slice(-300).reverse().map((e) => [
    e.seq, new Date(e.ts * 1000).toLocaleTimeString(), e.type, h("code", {}, JSON.stringify(e.data))]), "No events seen yet on this page.");
  const showMemory = () => table(["Time", "Kind", "Topic", "Node", "Data"], state.memory.map((m) => [
    new Date(m.ts * 1000).toLocaleTimeString(), m.kind, m.topic || "", m.node_id || "", h("code", {}, m.text || JSON.stringify(m.data))]), "No memory events.");
  const showArtifacts = () => state.artifacts.length
    ? h("div", {}, state.artifacts.map(artifactView)) : h("p", { class: "empty" }, "No artifacts.");

  follow(`/runs/${encodeURIComponent(runId)}/events/stream`, (event) => {
    state.events.push(event);
    if (event.type === "run_status" && state.run) state.run.status = event.data.status;
    setConnection(`live · event ${event.seq}`);
    soon();
  }, controller.signal).then(() => { setConnection("run finished"); soon(); })
    .catch(() => { if (!closed) { setConnection("live updates unavailable; refreshing"); poll(); } });
  function poll() { if (closed) return; load().catch(() => {}).finally(() => { if (!FINAL.has(state.run && state.run.status)) setTimeout(poll, 1500); }); }
  try { await load(); } catch (error) { fail(view, error); }
}

// A node with an open wait is shown waiting, whatever its last recorded state.
function withWaits(nodes, waits) {
  const asking = new Set(waits.map((w) => w.node_id));
  return nodes.map((n) => (asking.has(n.node_id) && !FINAL.has(n.status) ? { ...n, status: "waiting" } : n));
}

function table(columns, rows, empty) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("table", {}, h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))));
}

function artifactView(a) {
  const path = `/artifacts/${encodeURIComponent(a.id)}/content`;
  const preview = h("div", { class: "preview" });
  const download = h("a", { href: API + path, download: a.name || a.id, onclick: async (e) => {
    if (!sessionStorage.getItem("aethergraph-token")) return;
    e.preventDefault();
    const blob = await (await request(path)).blob();
    const link = h("a", { href: URL.createObjectURL(blob), download: a.name || a.id }); link.click();
  } }, "Download");
  const mime = a.mime || "";
  request(path).then(async (response) => {
    const type = response.headers.get("Content-Type") || mime;
    if (type.startsWith("image/")) preview.append(h("img", { src: URL.createObjectURL(await response.blob()), alt: a.name || a.id }));
    else if (type.includes("json")) preview.append(h("pre", {}, pretty(await response.json())));
    else if (type.startsWith("text/")) preview.append(h("pre", {}, (await response.text()).slice(0, 20000)));
    else preview.append(h("p", { class: "muted" }, `${type || "binary"} · no preview`));
  }).catch((error) => preview.append(h("p", { class: "error" }, error.message)));
  return h("div", { class: "artifact" }, h("div", { class: "row" }, h("strong", {}, a.name || a.id),
    h("span", { class: "muted" }, `${a.kind} · ${a.size} bytes · node ${a.node_id || "–"}`), download), preview);
}

function legend() {
  return h("div", { class: "legend" }, ["pending", "running", "waiting", "succeeded", "failed", "skipped"].map((s) => h("span", {}, h("i", { style: `background:${COLORS[s]}` }), s)));
}

function drawGraph(spec, nodes) {
  const status = Object.fromEntries(nodes.map((n) => [n.node_id, n.status]));
  const level = {};
  const deps = {};
  for (const e of spec.edges) (deps[e.target] = deps[e.target] || []).push(e.source);
  const depth = (id) => level[id] ?? (level[id] = Math.max(-1, ...(deps[id] || []).map(depth)) + 1);
  spec.nodes.forEach((n) => depth(n.id));
  const columns = [];
  for (const n of spec.nodes) (columns[level[n.id]] = columns[level[n.id]] || []).push(n);
  const W = 168, H = 46, GX = 56, GY = 18, pos = {};
  columns.forEach((col, x) => col.forEach((n, y) => { pos[n.id] = { x: 10 + x * (W + GX), y: 10 + y * (H + GY) }; }));
  const width = 20 + columns.length * (W + GX) - GX, height = 20 + Math.max(...columns.map((c) => c.length)) * (H + GY) - GY;
  const edges = spec.edges.map((e) => {
    const a = pos[e.source], b = pos[e.target], x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mid = (x1 + x2) / 2;
    return svg("path", { class: "edge", "marker-end": "url(#arrow)", d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2 - 2},${y2}` });
  });
  const boxes = spec.nodes.map((n) => {
    const s = status[n.id] || "pending", p = pos[n.id];
    const clip = (t, k) => (t.length > k ? `${t.slice(0, k - 1)}…` : t);
    return svg("g", { class: "node", "data-node": n.id, "data-status": s, transform: `translate(${p.x},${p.y})` },
      svg("title", {}, `${n.id} (${n.tool}): ${s}`),
      svg("rect", { width: W, height: H, fill: COLORS[s] || COLORS.pending }),
      svg("text", { x: 10, y: 19 }, clip(n.id, 22)), svg("text", { x: 10, y: 35, class: "sub" }, `${clip(n.tool, 16)} · ${s}`));
  });
  const drawing = svg("svg", { viewBox: `0 0 ${Math.max(width, 200)} ${height}`, style: `max-width:${Math.max(width, 200)}px`, role: "img" },
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto" }, svg("path", { d: "M0,0 L10,5 L0,10 z" }))),
    ...edges, ...boxes);
  const done = nodes.filter((n) => ["succeeded", "skipped", "failed", "cancelled"].includes(n.status)).length;
  return [h("div", { class: "row" }, h("h2", {}, "Graph"), h("span", { class: "muted" }, `${done} of ${spec.nodes.length} nodes finished`)),
    h("div", { class: "graph" }, drawing), legend()];
}

function drawTimeline(nodes, run, replayed = new Set()) {
  const title = h("h2", {}, "Nodes");
  if (!nodes.length) return [title, h("p", { class: "empty" }, "No child nodes yet.")];
  const start = Math.min(...nodes.map((n) => n.started_at || run.created_at), run.started_at || run.created_at);
  const end = Math.max(run.finished_at || Date.now() / 1000, ...nodes.map((n) => n.finished_at || 0));
  const span = Math.max(end - start, 0.001);
  const rows = nodes.map((n) => {
    const left = (((n.started_at || start) - start) / span) * 100;
    const right = (((n.finished_at || end) - start) / span) * 100;
    // A resumed graph_fn replays its journaled steps: they return their records, not run again.
    const status = replayed.has(n.node_id) ? h("span", {}, badge(n.status), " ", h("span", { class: "muted", title: "returned its recorded result when the run resumed" }, "replayed")) : badge(n.status);
    return [h("span", { class: "mono" }, n.node_id), n.tool, status,
      h("div", { class: "track" }, h("div", { class: "bar", style: `left:${left}%;width:${Math.max(right - left, 0.5)}%;background:${COLORS[n.status] || COLORS.pending}` })),
      duration(n.started_at, n.finished_at)];
  });
  const t = table(["Node", "Tool", "Status", "Timeline", "Duration"], rows, "");
  t.classList.add("timeline");
  t.querySelectorAll("td:nth-child(4)").forEach((td) => { td.style.width = "45%"; });
  return [title, t, legend()];
}
