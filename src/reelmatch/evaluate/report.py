"""The HTML report: one self-contained file (figures and thumbnails inlined).

Pure formatting: takes the metrics document, figure paths and example queries
already computed, returns HTML text. No workspace access here.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reelmatch.evaluate.plots import METRIC_LABELS


@dataclass
class Example:
    """One example query and its nearest held-out neighbours for the report.

    thumb: uint8 [H, W, 3] RGB (a representative frame) or None.
    """

    id: str
    title: str
    genres: tuple[str, ...]
    thumb: np.ndarray | None = None
    neighbours: list["Neighbour"] = field(default_factory=list)


@dataclass
class Neighbour:
    id: str
    title: str
    genres: tuple[str, ...]
    score: float
    shared_genres: tuple[str, ...] = ()
    thumb: np.ndarray | None = None


def png_data_uri(rgb: np.ndarray | None, *, max_side: int = 160) -> str | None:
    """uint8 [H, W, 3] -> ``data:image/png;base64,...`` (downscaled to ``max_side``)."""
    if rgb is None:
        return None
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def file_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0}td,th{padding:.3em .7em;border:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}tr.main{font-weight:bold;background:#f2f7ff}
.muted{color:#777;font-size:.9em}img.fig{max-width:100%;border:1px solid #eee}
.ex{display:flex;gap:.6em;align-items:flex-start;margin:.8em 0;padding:.5em;border:1px solid #eee;border-radius:6px}
.card{width:128px;font-size:.75em;text-align:center}.card img{width:128px;height:128px;object-fit:cover;border-radius:4px;background:#000}
.card.query{border-right:2px solid #888;padding-right:.6em}.rel{color:#167d2a}.irr{color:#b3261e}
"""


def _fmt(v) -> str:
    try:
        return f"{float(v):.3f}"
    except (TypeError, ValueError):
        return "-"


def _metrics_table(
    rows: Sequence[tuple[str, Mapping[str, float], bool]], extra_col: str | None = None, first_col: str = "system"
) -> str:
    keys = list(METRIC_LABELS)
    head = "".join(f"<th>{METRIC_LABELS[k]}</th>" for k in keys)
    if extra_col:
        head += f"<th>{html.escape(extra_col)}</th>"
    out = [f"<table><tr><th>{html.escape(first_col)}</th>{head}</tr>"]
    for name, m, main in rows:
        cells = "".join(f"<td>{_fmt(m.get(k))}</td>" for k in keys)
        if extra_col:
            cells += f"<td>{html.escape(str(m.get(extra_col, '')))}</td>"
        out.append(f"<tr class=\"{'main' if main else ''}\"><td>{html.escape(name)}</td>{cells}</tr>")
    out.append("</table>")
    return "\n".join(out)


def _card(title: str, genres, thumb, *, score: float | None = None, shared=(), query: bool = False) -> str:
    uri = png_data_uri(thumb)
    img = f'<img src="{uri}" alt="">' if uri else '<div style="width:128px;height:128px;background:#333"></div>'
    g = ", ".join(genres) or "no genre"
    line = ""
    if score is not None:
        cls = "rel" if shared else "irr"
        line = f'<br><span class="{cls}">{score:.3f} · {html.escape(", ".join(shared) or "no shared genre")}</span>'
    return (
        f'<div class="card{" query" if query else ""}">{img}<br><b>{html.escape(title)}</b>'
        f'<br><span class="muted">{html.escape(g)}</span>{line}</div>'
    )


def render_html(
    doc: Mapping,
    *,
    figures: Mapping[str, Path],
    examples: Sequence[Example],
    context: Mapping[str, str] | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> str:
    """The report page.

    doc: the evaluate JSON document; figures: caption -> PNG path (inlined);
    examples: queries with neighbours; context: key -> value facts (model,
    split sizes...); descriptions: baseline name -> one-line explanation.
    """
    descriptions = descriptions or {}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>reelmatch evaluation</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>reelmatch evaluation report</h1>",
        f"<p>Retrieval quality on the <b>{html.escape(str(doc.get('split')))}</b> split"
        + (" (titles never seen in training)" if doc.get("split") != "train" else " (<b>seen in training</b>)")
        + ". Each of its trailers queries all the others; a neighbour is relevant when it shares "
        "a genre with the query (nDCG's gain is the genre overlap, |shared| / |union|).</p>",
    ]
    if context:
        parts.append("<table>" + "".join(
            f"<tr><td>{html.escape(str(k))}</td><td style='text-align:left'>{html.escape(str(v))}</td></tr>"
            for k, v in context.items()
        ) + "</table>")
    parts.append("<h2>Trained model vs baselines</h2>")
    rows = [("trained model (fused towers)", doc.get("metrics", {}), True)]
    for name, m in doc.get("baselines", {}).items():
        label = f"{name}" + (f" — {descriptions[name]}" if name in descriptions else "")
        rows.append((label, m, False))
    parts.append(_metrics_table(rows))
    for caption, path in figures.items():
        if path is None or not Path(path).exists():
            continue
        parts.append(f"<h2>{html.escape(caption)}</h2><img class='fig' src='{file_data_uri(Path(path))}' alt=''>")
    xm = doc.get("cross_modal")
    if xm:
        parts.append("<h2>Cross-modal retrieval (self-supervised towers)</h2>")
        parts.append(f"<p class='muted'>Each held-out item's audio embedding queries the frames embeddings of the "
                     f"{xm.get('items')} held-out items with sound (and the reverse); recall@k: its own clip in the "
                     f"first k. Chance: k / items.</p>")
        rows = "".join(
            f"<tr><td>{html.escape(name.replace('_', ' '))}</td><td>{_fmt(xm[name].get('recall_at_1'))}</td>"
            f"<td>{_fmt(xm[name].get('recall_at_10'))}</td></tr>"
            for name in ("audio_to_frames", "frames_to_audio") if name in xm)
        rows += f"<tr><td>chance</td><td>{_fmt(xm.get('chance_at_1'))}</td><td>{_fmt(xm.get('chance_at_10'))}</td></tr>"
        parts.append(f"<table><tr><th>direction</th><th>recall@1</th><th>recall@10</th></tr>{rows}</table>")
    per_genre = doc.get("per_genre") or {}
    if per_genre:
        parts.append("<h2>Per genre (trained model)</h2>")
        parts.append(_metrics_table([(g, m, False) for g, m in sorted(per_genre.items())], extra_col="queries", first_col="genre"))
    if examples:
        parts.append("<h2>Example queries and their nearest held-out neighbours</h2>")
        parts.append("<p class='muted'>Green: shares a genre with the query; red: shares none. Scores are cosine similarities.</p>")
        for ex in examples:
            cards = [_card(ex.title, ex.genres, ex.thumb, query=True)]
            cards += [_card(n.title, n.genres, n.thumb, score=n.score, shared=n.shared_genres) for n in ex.neighbours]
            parts.append(f"<div class='ex'>{''.join(cards)}</div>")
    parts.append("</body></html>")
    return "\n".join(parts)
