// curate review: one item at a time, keyboard first. Every decision is POSTed at once (in order) to
// /api/decide, which writes data/corrections.csv; the page moves on without waiting for the answer.
// Each answer brings the queue re-ranked on the decisions so far and the statistics refitted.
"use strict";

const $ = (id) => document.getElementById(id);
const S = { items: [], persons: {}, decisions: {}, progress: { reviewed: 0, total: 0 }, rerun: null, stats: null,
            fixes: {}, audit_n: 0 };
const GROUPS = { labels: ["gender", "age", "mask", "duplicate"], photos: ["outlier", "quality"] };
const inflight = {};   // id -> decision sent and not answered yet (kept over the answers of earlier ones)
let view = [];         // items passing the filters, in the chosen order
let cur = null;        // id of the item shown
let showOriginals = false;
let queue = Promise.resolve();  // decisions go out one after the other
const undo = JSON.parse(sessionStorage.getItem("curate-undo") || "[]");

function filters() {
  return { field: $("f-field").value, min: parseFloat($("f-min").value) || 0,
           status: $("f-status").value, sort: $("f-sort").value };
}

function saveHash() {
  const f = filters();
  const h = new URLSearchParams({ field: f.field, min: String(f.min), status: f.status, sort: f.sort, id: cur || "" });
  history.replaceState(null, "", "#" + h.toString());
}

function loadHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  if (h.has("field")) $("f-field").value = h.get("field");
  if (h.has("min")) $("f-min").value = h.get("min");
  if (h.has("status")) $("f-status").value = h.get("status");
  if (h.has("sort")) $("f-sort").value = h.get("sort");
  return h.get("id") || null;
}

function fieldMatches(it, want) {
  return !want || it.field === want || (GROUPS[want] || []).includes(it.field);
}

function computeView() {
  const f = filters();
  view = S.items.filter((it) => fieldMatches(it, f.field) && (f.min <= 0 || (it.score ?? 0) >= f.min) &&
    (!f.status || (f.status === "done") === (it.id in S.decisions)));
  // the server sends the queue order: decided first, then label fixes, audits, photo issues by P(real)
  if (f.sort !== "queue") view.sort((a, b) => (f.sort === "asc" ? 1 : -1) * ((a.score ?? -1) - (b.score ?? -1)));
}

// the answer of /api/state or /api/decide: order, P(real), decisions, statistics
function applyLive(data) {
  const rank = Object.fromEntries(data.order.map((id, i) => [id, i]));
  for (const it of S.items) if (it.id in data.p) it.p = data.p[it.id];
  S.items.sort((a, b) => rank[a.id] - rank[b.id]);
  S.decisions = Object.assign({}, data.decisions, inflight);
  for (const [id, d] of Object.entries(inflight)) if (d === null) delete S.decisions[id];
  S.progress = { reviewed: Object.keys(S.decisions).length, total: data.progress.total };
  S.stats = data.stats;
  S.rerun = data.rerun;
  S.fixes = data.fixes || {};
  S.audit_n = data.audit_n;
}

function toast(msg, info) {
  const t = $("toast");
  t.textContent = msg;
  t.className = info ? "toast info" : "toast";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, info ? 1500 : 4000);
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function imageUrl(id, kind) {
  return "/api/image?" + new URLSearchParams({ id, kind }).toString();
}

function statusText(d, it) {
  if (!d) return ["undecided", ""];
  if (it && it.field === "audit") {
    return d.decision === "reject" ? ["audited: all labels right", "reject"]
      : [`audited: ${d.value} field(s) wrong, fixed`, "accept"];
  }
  if (d.decision === "reject") return ["rejected: the label stays", "reject"];
  return ["accepted: " + d.value, "accept"];
}

function fmt(x, digits = 2) { return x === null || x === undefined ? "—" : Number(x).toFixed(digits); }
function range(iv, digits = 2) { return iv ? `${fmt(iv[0], digits)}–${fmt(iv[1], digits)}` : "—"; }

function renderStats() {
  const st = S.stats;
  if (!st) return;
  const head = el("tr", {}, ...["field", "decided", "precision", "all flags", "real / undecided"].map((h) => el("th", {}, h)));
  const rows = Object.entries(st.label).filter(([, s]) => s.items > 0).map(([f, s]) => el("tr", { "data-field": f },
    el("td", {}, f), el("td", {}, `${s.decided} / ${s.items}`),
    el("td", {}, s.decided ? `${fmt(s.precision)} (${s.accepted}/${s.decided})` : "—"),
    el("td", { title: "90 % interval of the precision of all this field's flags" }, range(s.precision_interval)),
    el("td", { title: "expected real issues among the undecided, 90 % interval" },
       `${fmt(s.expected_errors_undecided, 1)} (${range(s.expected_errors_undecided_interval, 0)}) / ${s.undecided}`)));
  const a = st.audit;
  const audit = a.expected_missed_errors === null
    ? `audit: ${a.persons} of ${a.listed} listed decided; add audits to estimate what the flags miss`
    : `audit: ${a.errors_found} wrong of ${a.persons} audited (${a.population} persons no label flag names): ` +
      `${fmt(a.expected_missed_errors, 1)} missed (${range(a.expected_missed_errors_interval, 0)}), ` +
      `recall ≈ ${fmt(a.recall)} (${range(a.recall_interval)})`;
  const decided = Object.values(st.label).reduce((n, s) => n + s.decided, 0);
  $("stats").replaceChildren(el("table", {}, head, ...rows), el("p", { id: "audit-stats" }, audit),
    el("p", { id: "rerank", class: "hint" }, decided
      ? `queue re-ranked by P(real) refitted on ${decided} decision${decided === 1 ? "" : "s"} (each field on its own)`
      : "no decision yet: the queue follows the flagger's scores"));
}

function renderHeader() {
  const p = S.progress;
  $("progress-text").textContent = `${p.reviewed} / ${p.total} reviewed`;
  if (document.activeElement !== $("audit-n")) $("audit-n").value = String(S.audit_n || 0);
  renderStats();
  $("progress-bar").style.width = p.total ? (100 * p.reviewed / p.total) + "%" : "0";
  if (S.rerun) {
    $("rerun").textContent = S.rerun.message;
    $("rerun").className = S.rerun.pending ? "rerun" : "rerun clean";
  }
}

function render() {
  renderHeader();
  const it = view.find((x) => x.id === cur);
  $("empty").hidden = !!it;
  $("issue").hidden = !it;
  $("edit").hidden = true;
  saveHash();
  if (!it) { $("siblings").replaceChildren(); return; }
  const person = S.persons[it.person_id];
  $("rank").textContent = `${view.indexOf(it) + 1} of ${view.length}`;
  $("field").textContent = it.kind === it.field ? it.field : `${it.field} · ${it.kind}`;
  const fieldStats = S.stats && S.stats.label[it.field];
  $("score").textContent = it.score === null ? "audit: no flag names this person"
    : `score ${it.score.toFixed(3)}` + (it.p !== null && fieldStats && fieldStats.decided && !(it.id in S.decisions)
      ? ` · P(real) ${it.p.toFixed(2)} on ${fieldStats.decided} ${it.field} decision${fieldStats.decided === 1 ? "" : "s"}` : "");
  $("issue-id").textContent = it.id;
  $("given").textContent = it.given;
  $("suggested").textContent = it.suggested;
  $("extra").textContent = Object.entries(it.extra).map(([k, v]) => `${k} ${v}`).join(" · ");
  const fixes = S.fixes[it.person_id] || [];
  $("person").textContent = (person
    ? `person ${it.person_id} · given ${person.gender}, ${person.age} y (${person.age_bin})`
    : `person ${it.person_id}`) + (fixes.length ? ` · corrected: ${fixes.join(", ")}` : "");
  $("notes").textContent = person && person.notes.length ? "detector notes: " + person.notes.join(" · ") : "";
  const [text, cls] = statusText(S.decisions[it.id], it);
  $("status").textContent = text;
  $("status").className = "status " + cls;

  const flagged = new Set(it.images);
  const figures = (images) => images.map((im) => {
    const pair = el("div", { class: "pair" }, el("img", { src: imageUrl(im.id, "crop"), alt: im.id, title: im.id }));
    if (showOriginals) pair.append(el("img", { class: "original", src: imageUrl(im.id, "original"), alt: "original" }));
    return el("figure", { class: flagged.has(im.id) ? "flagged" : "" }, pair,
              el("figcaption", {}, im.mask ? `${im.stem} · ${im.mask}` : im.stem));
  });
  $("photos").replaceChildren(...figures(person ? person.images
    : it.images.map((id) => ({ id, stem: id.split("/").pop(), mask: "" }))));
  // a duplicate is judged side by side: the other person's photos, stem for stem under the copy's
  const other = it.field === "duplicate" ? S.persons[it.suggested] : null;
  $("other").hidden = !other;
  if (other) {
    $("other-person").textContent =
      `same person? ${it.suggested} · given ${other.gender}, ${other.age} y (${other.age_bin})`;
    $("other-photos").replaceChildren(...figures(other.images));
  }

  const siblings = S.items.filter((x) => x.person_id === it.person_id).map((x) => {
    const li = el("li", { class: x.id === it.id ? "current" : "", onclick: () => go(x.id) },
                  `${x.field}: ${x.given} → ${x.suggested}` + (x.score === null ? "" : ` (${x.score.toFixed(2)})`) +
                  ` · ${statusText(S.decisions[x.id], x)[0]}`);
    return li;
  });
  $("siblings").replaceChildren(...siblings);
}

function go(id) { cur = id; render(); }

function step(delta) {
  if (!view.length) return;
  const i = view.findIndex((x) => x.id === cur);
  go(view[Math.min(view.length - 1, Math.max(0, (i < 0 ? 0 : i + delta)))].id);
}

function nextOpen() {
  const i = view.findIndex((x) => x.id === cur);
  for (let k = 1; k <= view.length; k++) {
    const it = view[(i + k) % view.length];
    if (!(it.id in S.decisions)) return go(it.id);
  }
  step(1);
  toast("every issue in this view is decided", true);
}

async function post(body) {
  const r = await fetch("/api/decide", { method: "POST", headers: { "Content-Type": "application/json" },
                                         body: JSON.stringify(body) });
  const data = await r.json();
  if (!r.ok) throw new Error(typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail));
  return data;
}

// Record locally, move on, and send; on a refusal put the old state back and show why.
function send(id, decision, value, { advance = true, remember = true } = {}) {
  const before = S.decisions[id] || null;
  const it = S.items.find((x) => x.id === id);
  if (decision === "clear") delete S.decisions[id];
  else if (decision === "fix") S.decisions[id] = { decision: "accept", value: it.field === "audit" ? "1" : value, source: "" };
  else S.decisions[id] = { decision, value: value ?? (it.field === "audit" ? "0" : it.value), source: "" };
  inflight[id] = S.decisions[id] || null;
  S.progress.reviewed = Object.keys(S.decisions).length;
  if (remember) { undo.push({ id, before }); sessionStorage.setItem("curate-undo", JSON.stringify(undo.slice(-200))); }
  const status = filters().status;
  if (advance) nextOpen(); else render();
  if (status) { computeView(); if (!view.some((x) => x.id === cur)) step(0); render(); }
  const body = { id, decision };
  if (value !== undefined && value !== null) body.value = value;
  pending(1);
  queue = queue.then(() => post(body)).then((data) => {
    delete inflight[id];
    applyLive(data);
    computeView();
    render();
  }).catch((err) => {
    delete inflight[id];
    if (before) S.decisions[id] = before; else delete S.decisions[id];
    S.progress.reviewed = Object.keys(S.decisions).length;
    if (remember) undo.pop();
    go(id);
    toast(err.message);
  }).finally(() => pending(-1));
}

// decisions sent but not yet written: shown while non-zero, and read by the browser test
function pending(delta) {
  const n = (parseInt(document.body.dataset.pending || "0", 10) || 0) + delta;
  document.body.dataset.pending = String(n);
  $("saving").hidden = n === 0;
}

function current() { return view.find((x) => x.id === cur); }

function openEdit() {
  const it = current();
  if (!it) return;
  const buttons = it.choices.map((c, i) => el("button", { onclick: () => choose(c) }, el("kbd", {}, String(i + 1)), " " + c));
  $("choices").replaceChildren(...buttons);
  $("nchoices").textContent = String(it.choices.length);
  $("choice-hint").hidden = !it.choices.length;
  $("years-box").hidden = it.field !== "age";
  $("years").value = "";
  $("fix").value = "";
  $("edit").hidden = false;
  if (!it.choices.length) $("fix").focus();  // an audit: the fix is the only edit
}

function saveFix(text) {
  const it = current();
  $("edit").hidden = true;
  $("fix").blur();
  if (it && text.trim()) send(it.id, "fix", text.trim());
}

function choose(value) {
  const it = current();
  $("edit").hidden = true;
  $("years").blur();  // the next keys decide again, they do not type
  if (it) send(it.id, "accept", String(value));
}

function doUndo() {
  const last = undo.pop();
  sessionStorage.setItem("curate-undo", JSON.stringify(undo));
  if (!last) return toast("nothing to undo", true);
  cur = last.id;
  if (!view.some((x) => x.id === cur)) { $("f-status").value = ""; computeView(); }
  if (last.before) send(last.id, last.before.decision, last.before.value, { advance: false, remember: false });
  else send(last.id, "clear", null, { advance: false, remember: false });
  toast("undone", true);
}

function key(k) {
  const it = current();
  switch (k) {
    case "a":
      if (it && it.field === "audit") toast("an audit: r if all labels are right, e to fix a wrong one");
      else if (it) send(it.id, "accept");
      break;
    case "r": if (it) send(it.id, "reject"); break;
    case "e": openEdit(); break;
    case "s": nextOpen(); break;
    case "j": case "ArrowRight": case "ArrowDown": step(1); break;
    case "k": case "ArrowLeft": case "ArrowUp": step(-1); break;
    case "u": doUndo(); break;
    case "o": showOriginals = !showOriginals; render(); break;
    default: return false;
  }
  return true;
}

document.addEventListener("keydown", (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const editing = !$("edit").hidden;
  if (ev.target.id === "fix") {
    if (ev.key === "Enter" && ev.target.value.trim()) { ev.preventDefault(); saveFix(ev.target.value); }
    else if (ev.key === "Escape") { $("edit").hidden = true; ev.target.blur(); }
    return;
  }
  if (ev.target.id === "years") {
    if (ev.key === "Enter" && ev.target.value) { ev.preventDefault(); choose(ev.target.value); }
    else if (ev.key === "Escape") { $("edit").hidden = true; ev.target.blur(); }
    return;
  }
  if (["INPUT", "SELECT"].includes(ev.target.tagName)) return;
  if (editing) {
    const it = current();
    const n = parseInt(ev.key, 10);
    if (ev.key === "Escape") { $("edit").hidden = true; ev.preventDefault(); return; }
    if (it && n >= 1 && n <= it.choices.length) { ev.preventDefault(); choose(it.choices[n - 1]); return; }
    if (ev.key === "y" && it && it.field === "age") { ev.preventDefault(); $("years").focus(); return; }
    if (ev.key === "f") { ev.preventDefault(); $("fix").focus(); return; }
  }
  if (key(ev.key)) ev.preventDefault();
});

document.querySelectorAll("button[data-key]").forEach((b) => b.addEventListener("click", () => key(b.dataset.key)));
for (const id of ["f-field", "f-min", "f-status", "f-sort"]) {
  $(id).addEventListener("change", () => {
    computeView();
    if (!view.some((x) => x.id === cur)) cur = view.length ? view[0].id : null;
    render();
    $(id).blur();
  });
}

$("audit-add").addEventListener("click", async () => {
  const n = Math.max(0, parseInt($("audit-n").value, 10) || 0);
  const r = await fetch("/api/audit", { method: "POST", headers: { "Content-Type": "application/json" },
                                        body: JSON.stringify({ n }) });
  const data = await r.json();
  if (!r.ok) return toast(typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail));
  setState(data);
  computeView();
  if (!view.some((x) => x.id === cur)) cur = (view.find((x) => !(x.id in S.decisions)) || view[0] || {}).id || null;
  render();
  $("audit-add").blur();
  toast(`${S.items.filter((x) => x.field === "audit").length} audit items in the queue`, true);
});

function setState(data) {
  S.items = data.items;
  S.persons = data.persons;
  applyLive(data);
}

async function load(keepId) {
  const r = await fetch("/api/state");
  setState(await r.json());
  computeView();
  cur = view.some((x) => x.id === keepId) ? keepId : (view.find((x) => !(x.id in S.decisions)) || view[0] || {}).id || null;
  render();
  document.body.dataset.ready = "1";
}

// another tab may have decided too: catch up when this one comes back into view
document.addEventListener("visibilitychange", () => { if (!document.hidden) queue = queue.then(() => load(cur)); });
load(loadHash());
