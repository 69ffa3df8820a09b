// Issue 17: the item page's "Copies" section (segments and the best matching frame pair).
// Kept apart from app.js; app.js calls window.showCopies(id, container) after rendering an item.
(function () {
  const fmt = (t) => `${Math.floor(t / 60)}:${(t % 60).toFixed(1).padStart(4, "0")}`;
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of kids) if (c != null) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  window.showCopies = async function (id, container) {
    const list = el("div", { class: "results", "data-testid": "copies" }, el("p", { class: "note" }, "Looking for copies…"));
    container.append(el("section", {}, el("h2", { class: "section-title" }, "Copies", el("small", {}, " same footage, where it matches")), list));
    let doc;
    try {
      const res = await fetch(`/api/items/${encodeURIComponent(id)}/copies`);
      doc = await res.json();
      if (!res.ok) throw new Error(doc.error || res.statusText);
    } catch (e) {
      list.replaceChildren(el("p", { class: "empty" }, `No copy information (${e.message}).`));
      return;
    }
    if (!doc.copies.length) { list.replaceChildren(el("p", { class: "empty" }, "No copies in the catalogue.")); return; }
    list.replaceChildren(...doc.copies.map((c) => {
      const mine = c.a === id;  // segments are given as a (first id) / b (second id)
      const segs = c.segments.map((s) => {
        const [m0, m1, o0, o1] = mine ? [s.a_start, s.a_end, s.b_start, s.b_end] : [s.b_start, s.b_end, s.a_start, s.a_end];
        return el("li", { "data-testid": "segment" }, `${fmt(m0)}–${fmt(m1)} here = ${fmt(o0)}–${fmt(o1)} there (score ${s.score.toFixed(2)})`);
      });
      const best = c.best_match;
      const pics = best ? el("div", { class: "pair", "data-testid": "best-pair" },
        el("figure", {}, el("img", { src: mine ? best.a_thumbnail : best.b_thumbnail, alt: "this item", loading: "lazy" }),
          el("figcaption", {}, `here at ${fmt(mine ? best.a_time : best.b_time)}`)),
        el("figure", {}, el("img", { src: mine ? best.b_thumbnail : best.a_thumbnail, alt: "the copy", loading: "lazy" }),
          el("figcaption", {}, `copy at ${fmt(mine ? best.b_time : best.a_time)} (similarity ${best.similarity.toFixed(2)})`))) : null;
      // the evidence: pictures (aligned frames) and, when it vouches, the soundtrack (offset is b's time minus a's)
      const picture = c.visual != null ? ` · pictures ${c.visual.toFixed(3)}` : "";
      const sound = c.audio ? el("p", { class: "note", "data-testid": "sound-match" },
        `Sound: ${c.audio.seconds.toFixed(1)} s match (${Math.round(100 * c.audio.score)} % of the shorter soundtrack), ` +
        `${fmt(Math.abs(c.audio.offset))} ${(mine ? c.audio.offset : -c.audio.offset) >= 0 ? "later" : "earlier"} in the copy`) : null;
      return el("div", { class: "copy", "data-testid": "copy" },
        el("a", { href: `#/item/${encodeURIComponent(c.id)}` }, c.title), ` · copy score ${c.score.toFixed(3)}${picture}`,
        sound, el("ul", {}, ...segs), pics);
    }));
  };
})();
