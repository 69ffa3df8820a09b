// reelmatch web page: plain JS, no build step. Talks to the JSON API under /api.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const PAGE = 24;

// h("div", {class: "x", onclick: fn}, child, "text", ...) -> Element (text is never parsed as HTML)
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path, options) {
  const res = await fetch(path, options);
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) {
    const msg = (body && (body.error || body.detail)) || `${res.status} ${res.statusText}`;
    const err = new Error(typeof msg === "string" ? msg : JSON.stringify(msg));
    err.status = res.status;
    throw err;
  }
  return body;
}

const fmtScore = (s) => (typeof s === "number" ? s.toFixed(3) : "–");
const pct = (s) => `${Math.max(0, Math.min(1, Number(s) || 0)) * 100}%`;
const itemHref = (id) => `#/item/${encodeURIComponent(id)}`;
const videoUrl = (id) => `/api/items/${encodeURIComponent(id)}/video`;
const thumbUrl = (id) => `/api/items/${encodeURIComponent(id)}/thumbnail`;

function thumb(id, { badge = null, onclick = null, testid = null } = {}) {
  const img = h("img", { src: thumbUrl(id), alt: "", loading: "lazy" });
  const box = h("div", { class: "thumb", onclick, "data-testid": testid }, img,
    badge ? h("span", { class: "badge" }, badge) : null,
    onclick ? h("span", { class: "play", title: "Play" }, "▶") : null);
  img.addEventListener("error", () => { img.remove(); box.classList.add("noimg"); });
  return box;
}

function chips(genres, shared = []) {
  const s = new Set((shared || []).map((g) => g.toLowerCase()));
  return h("div", { class: "chips" },
    (genres || []).map((g) => h("span", { class: "chip" + (s.has(g.toLowerCase()) ? " shared" : "") }, g)));
}

function scoreRow(label, value, cls = "") {
  return h("div", { class: "score" }, h("span", {}, label),
    h("div", { class: "bar " + cls }, h("span", { style: `width:${pct(value)}` })), h("b", {}, fmtScore(value)));
}

function playInModal(id, title, start = 0) {
  const node = $("#player-template").content.firstElementChild.cloneNode(true);
  $("h3", node).textContent = title;
  const video = $("video", node);
  video.src = videoUrl(id) + (start ? `#t=${start}` : "");
  const close = () => { video.pause(); video.removeAttribute("src"); video.load(); node.remove(); document.removeEventListener("keydown", onKey); };
  const onKey = (e) => { if (e.key === "Escape") close(); };
  node.addEventListener("click", (e) => { if (e.target === node) close(); });
  $(".close", node).addEventListener("click", close);
  document.addEventListener("keydown", onKey);
  document.body.append(node);
}

// Replace a result's thumbnail by an inline player (plays on click).
function playInline(box, id) {
  if ($("video", box)) return;
  box.replaceChildren(h("video", { src: videoUrl(id), controls: true, autoplay: true, playsinline: true, "data-testid": "inline-video" }));
  box.onclick = null;
}

// A ranked result (similar trailer or matched movie).
function resultRow(r, { modalities = false, queryId = null } = {}) {
  const box = thumb(r.id, { testid: "result-thumb", onclick: () => playInline(box, r.id) });
  const rows = [scoreRow("score", r.score)];
  if (modalities && r.scores) {
    if (r.scores.visual !== undefined && r.scores.visual !== null) rows.push(scoreRow("visual", r.scores.visual, "visual"));
    if (r.scores.audio !== undefined && r.scores.audio !== null) rows.push(scoreRow("audio", r.scores.audio, "audio"));
    if (r.scores.text !== undefined && r.scores.text !== null) rows.push(scoreRow("plot", r.scores.text, "text"));
  }
  // a title with a plot and no clip yet was matched by its text alone
  if (r.modalities && r.modalities.length === 1 && r.modalities[0] === "text") rows.push(h("div", { class: "note", "data-testid": "text-only" }, "by its plot (no trailer yet)"));
  // issue 19 (scenes.js): the movie's matching scenes and breaks, and the explanation on demand
  const extra = [];
  if (r.scenes && window.sceneTimeline) extra.push(window.sceneTimeline(r, (t) => playInModal(r.id, r.title, t)));
  if (r.explain && window.explainBox) extra.push(window.explainBox(r, queryId));
  return h("div", { class: "result", "data-testid": "result" }, box,
    h("div", { class: "result-body" },
      h("div", { class: "result-title" }, h("span", { class: "rank" }, `${r.rank}.`),
        h("a", { href: itemHref(r.id), title: r.title }, r.title)),
      rows,
      chips(r.genres, r.shared_genres),
      extra));
}

// ------------------------------------------------------------------ catalogue
const filters = { q: "", genre: "", kind: "" };

function readFilters() {
  filters.q = $("#search").value.trim();
  filters.genre = $("#genre").value;
  filters.kind = $("#kind").value;
}

function card(item) {
  return h("a", { class: "card", href: itemHref(item.id), "data-testid": "card", "data-id": item.id },
    thumb(item.id, { badge: item.kind === "ad" ? "ad" : null }),
    h("div", { class: "card-body" },
      h("div", { class: "card-title" }, item.title, item.year ? h("span", { class: "year" }, ` (${item.year})`) : null),
      chips(item.genres)));
}

async function showCatalogue() {
  readFilters();
  const view = $("#view");
  const grid = h("div", { class: "grid", "data-testid": "grid" });
  const more = h("button", { class: "more", hidden: true }, "Load more");
  const heading = h("h2", { class: "section-title" }, filters.q ? `Titles matching “${filters.q}”` : "Catalogue",
    h("small", {}, ""));
  view.replaceChildren(heading, grid, more);
  let offset = 0;
  const load = async () => {
    more.disabled = true;
    const params = new URLSearchParams({ limit: PAGE, offset });
    for (const k of ["q", "genre", "kind"]) if (filters[k]) params.set(k, filters[k]);
    try {
      const page = await api(`/api/items?${params}`);
      if (!view.contains(grid)) return;
      page.items.forEach((it) => grid.append(card(it)));
      offset += page.items.length;
      more.hidden = !page.has_more;
      $("small", heading).textContent = page.total !== null && page.total !== undefined
        ? `${page.total} titles` : `${offset}${page.has_more ? "+" : ""} shown`;
      if (!offset) grid.replaceWith(h("p", { class: "empty" }, "No title matches."));
    } catch (e) {
      grid.replaceWith(h("p", { class: "error" }, e.message));
    } finally { more.disabled = false; }
  };
  more.addEventListener("click", load);
  await load();
}

// ------------------------------------------------------------------ item view
async function showItem(id) {
  const view = $("#view");
  view.replaceChildren(h("p", { class: "note" }, h("span", { class: "spinner" }), "Loading…"));
  let item;
  try { item = await api(`/api/items/${encodeURIComponent(id)}`); } catch (e) {
    view.replaceChildren(h("a", { class: "back", href: "#/" }, "← Catalogue"), h("p", { class: "error" }, e.message));
    return;
  }
  const figure = (caption, src, alt) => {
    const img = h("img", { src, alt, loading: "lazy" });
    const fig = h("figure", {}, h("figcaption", {}, caption), img);
    img.addEventListener("error", () => fig.remove());
    // small clips are not blown up beyond twice their size
    img.addEventListener("load", () => { img.style.maxWidth = `${2 * img.naturalWidth}px`; });
    return fig;
  };
  const similar = h("div", { class: "results", "data-testid": "similar" }, h("p", { class: "note" }, h("span", { class: "spinner" }), "Finding similar trailers…"));
  view.replaceChildren(
    h("a", { class: "back", href: "#/" }, "← Catalogue"),
    h("div", { class: "item", "data-testid": "item" },
      h("section", {},
        h("div", { class: "player" },
          item.has_media ? h("video", { src: item.media.video, controls: true, preload: "metadata", "data-testid": "player" })
            : h("p", { class: "empty" }, "No local media for this item.")),
        h("div", { class: "meta" },
          h("h1", { "data-testid": "item-title" }, item.title),
          h("div", { class: "sub" }, [item.kind, item.year, item.duration ? `${Math.round(item.duration)} s` : null].filter(Boolean).join(" · ")),
          chips(item.genres),
          item.flags && item.flags.length ? h("div", { class: "chips flags", "data-testid": "flags" },
            item.flags.map((f) => h("span", { class: "chip flag" }, f))) : null,
          item.plot ? h("p", { class: "plot" }, item.plot) : null),
        h("div", { class: "strips" },
          figure("What the model sees: sampled frames and the sound's spectrogram", item.media.contact_sheet, "contact sheet"))),
      h("section", {},
        h("h2", { class: "section-title" }, "Similar trailers", h("small", {}, "by look and sound")),
        similar)));
  if (window.showCopies) window.showCopies(id, view.querySelector("[data-testid=item]"));  // issue 17 (copies.js)
  if (item.kind === "ad" && window.showAdPlacement) window.showAdPlacement(id, view.querySelector("[data-testid=item]"), resultRow);
  try {
    const doc = await api(`${item.similar}?k=10&kind=trailer&explain=true`);
    similar.replaceChildren(...(doc.results.length ? doc.results.map((r) => resultRow(r, { queryId: id }))
      : [h("p", { class: "empty" }, "No neighbours.")]));
  } catch (e) {
    similar.replaceChildren(h("p", { class: "error" }, e.message));
  }
}

// ------------------------------------------------------------------- matching
async function matchFile(file) {
  const out = $("#match-results");
  if (!file) return;
  const mode = document.querySelector('input[name="mode"]:checked').value;
  out.replaceChildren(h("p", { class: "note" }, h("span", { class: "spinner" }), `Matching ${file.name}…`));
  const form = new FormData();
  form.append("file", file, file.name);
  const params = new URLSearchParams({ mode, k: 8, explain: "true" });
  if (mode === "ad" && $("#match-scenes") && $("#match-scenes").checked) params.set("scenes", "true");
  for (const f of ($("#exclude-flags") ? $("#exclude-flags").value : "").split(/[,|]/)) {
    if (f.trim()) params.append("exclude_flag", f.trim());
  }
  try {
    const doc = await api(`/api/match?${params}`, { method: "POST", body: form });
    out.replaceChildren(
      h("p", { class: "note", "data-testid": "match-heading" }, mode === "ad" ? "Movies for " : "Trailers like ", h("b", {}, file.name), ":"),
      h("div", { class: "results", "data-testid": "matches" },
        doc.results.length ? doc.results.map((r) => resultRow(r, { modalities: true }))
          : h("p", { class: "empty" }, "No match.")));
  } catch (e) {
    out.replaceChildren(h("p", { class: "error", "data-testid": "match-error" }, e.message));
  }
}

function setupDropzone() {
  const zone = $("#dropzone");
  const input = $("#match-file");
  input.addEventListener("change", () => { matchFile(input.files[0]); });
  ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) matchFile(f);
  });
  // dropping a file elsewhere on the page must not navigate away from it
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}

// -------------------------------------------------------------------- routing
function route() {
  const m = location.hash.match(/^#\/item\/(.+)$/);
  if (m) showItem(decodeURIComponent(m[1]));
  else showCatalogue();
}

async function init() {
  setupDropzone();
  let timer = null;
  const refresh = () => { if (location.hash.startsWith("#/item/")) location.hash = "#/"; else showCatalogue(); };
  $("#search").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 250); });
  $("#search").addEventListener("keydown", (e) => { if (e.key === "Enter") { clearTimeout(timer); refresh(); } });
  $("#genre").addEventListener("change", refresh);
  $("#kind").addEventListener("change", refresh);
  window.addEventListener("hashchange", route);
  try {
    const [g, health] = await Promise.all([api("/api/genres"), api("/api/health")]);
    for (const name of g.genres) $("#genre").append(h("option", { value: name }, name));
    const emb = health.embeddings
      ? ({ model: "trained model", "self-supervised": "self-supervised model (no genre labels)" }[health.embeddings.mode]
         || "pretrained backbone (no training yet)")
      : "not indexed yet";
    $("#status").textContent = `${health.items} items · ${emb} · ${health.writes ? "read-write" : "read-only"}`;
  } catch (e) {
    $("#status").textContent = "server unreachable";
  }
  route();
}

init();
