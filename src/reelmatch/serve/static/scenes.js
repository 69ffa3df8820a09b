// Issue 19: explanations of results, scene timelines with break marks, ad placement on an ad's page.
// Kept apart from app.js; app.js calls window.explainBox / window.sceneTimeline / window.showAdPlacement.
(function () {
  const fmt = (t) => (t === null || t === undefined ? "?" : `${Math.floor(t / 60)}:${(t % 60).toFixed(1).padStart(4, "0")}`);
  const num = (s) => (typeof s === "number" ? s.toFixed(3) : "–");
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of kids.flat()) if (c != null && c !== false) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  const frameUrl = (id, t) => `/api/items/${encodeURIComponent(id)}/frame?t=${encodeURIComponent(t)}`;

  // "Why?" toggle and its panel: per-modality similarities, shared genres and flags, the best frame pair.
  window.explainBox = function (r, queryId) {
    const e = r.explain;
    const panel = el("div", { class: "explain", "data-testid": "explain", hidden: true });
    const toggle = el("button", { class: "why", type: "button", "data-testid": "explain-toggle",
      onclick: () => {
        if (!panel.childElementCount) fill();
        panel.hidden = !panel.hidden;
        toggle.textContent = panel.hidden ? "Why?" : "Hide why";
      } }, "Why?");
    function fill() {
      const s = e.similarity;
      panel.append(el("div", { class: "sims" },
        el("span", {}, "overall ", el("b", {}, num(s.fused))),
        el("span", {}, "look ", el("b", { "data-testid": "explain-visual" }, num(s.visual))),
        el("span", {}, "sound ", el("b", {}, s.audio === null ? "no audio" : num(s.audio)))));
      const shared = [];
      if (e.shared_genres.length) shared.push(`genres: ${e.shared_genres.join(", ")}`);
      if (e.shared_flags.length) shared.push(`flags: ${e.shared_flags.join(", ")}`);
      panel.append(el("div", { class: "shared" }, shared.length ? `Shared ${shared.join("; ")}` : "No shared genres or flags."));
      const f = e.frames;
      if (f && queryId && f.query_time !== null && f.result_time !== null) {
        panel.append(el("div", { class: "pair", "data-testid": "explain-frames" },
          el("figure", {}, el("img", { src: frameUrl(queryId, f.query_time), alt: "query frame", loading: "lazy" }),
            el("figcaption", {}, `query at ${fmt(f.query_time)}`)),
          el("figure", {}, el("img", { src: frameUrl(r.id, f.result_time), alt: "result frame", loading: "lazy" }),
            el("figcaption", {}, `this at ${fmt(f.result_time)} (frame similarity ${num(f.similarity)})`))));
      } else {
        panel.append(el("div", { class: "note" }, "No frame pair (the query is not a catalogue item, or no frame features)."));
      }
    }
    return el("div", { class: "explain-wrap" }, toggle, panel);
  };

  // A movie's timeline: every scene, the matching ones highlighted (click: play from there), break marks.
  window.sceneTimeline = function (r, play) {
    const box = el("div", { class: "timeline-wrap", "data-testid": "timeline-wrap" });
    if (!r.scenes.length) { box.append(el("div", { class: "note" }, "No scenes yet (run 'reelmatch scenes').")); return box; }
    const bar = el("div", { class: "timeline", "data-testid": "timeline" });
    box.append(bar);
    const list = el("ul", { class: "scene-list" },
      r.scenes.map((s, i) => el("li", { "data-testid": "scene" }, `${i + 1}. ${fmt(s.start)}–${fmt(s.end)} · score ${num(s.score)}`)),
      r.breaks.length ? el("li", { class: "breaks", "data-testid": "breaks" }, `Breaks at ${r.breaks.map((b) => fmt(b.time)).join(", ")}`) : null);
    box.append(list);
    fetch(`/api/items/${encodeURIComponent(r.id)}/scenes`).then((res) => res.json()).then((doc) => {
      const total = doc.duration || (doc.scenes.length ? doc.scenes[doc.scenes.length - 1].end : 1);
      const best = new Map(r.scenes.map((s, i) => [s.index, i]));
      for (const s of doc.scenes) {
        const rank = best.get(s.index);
        bar.append(el("span", {
          class: "seg" + (rank !== undefined ? " match" : ""), title: `${fmt(s.start)}–${fmt(s.end)}`,
          style: `left:${(100 * s.start) / total}%;width:${(100 * (s.end - s.start)) / total}%`,
          "data-testid": rank !== undefined ? "scene-match" : "scene-seg",
          onclick: play ? () => play(s.start) : null,
        }, rank !== undefined ? String(rank + 1) : ""));
      }
      for (const b of r.breaks) {
        bar.append(el("span", { class: "brk", title: `break at ${fmt(b.time)}`, "data-testid": "break",
          style: `left:${(100 * b.time) / total}%` }));
      }
    }).catch(() => {});
    return box;
  };

  // On a commercial's page: the movies for it, by scene, with breaks and explanations.
  window.showAdPlacement = async function (id, container, resultRow) {
    const list = el("div", { class: "results", "data-testid": "placement" }, el("p", { class: "note" }, "Placing this commercial…"));
    container.append(el("section", {}, el("h2", { class: "section-title" }, "Where this ad fits", el("small", {}, " best scenes and breaks")), list));
    try {
      const res = await fetch(`/api/items/${encodeURIComponent(id)}/match-ad?k=5&scenes=true&explain=true`);
      const doc = await res.json();
      if (!res.ok) throw new Error(doc.error || res.statusText);
      list.replaceChildren(...(doc.results.length ? doc.results.map((r) => resultRow(r, { modalities: true, queryId: id }))
        : [el("p", { class: "empty" }, "No movie matches.")]));
    } catch (e) {
      list.replaceChildren(el("p", { class: "error" }, e.message));
    }
  };
})();
