"""A deterministic synthetic trailer corpus for tests and the demo.

Each genre has a learnable visual style (palette, brightness, texture, moving
shapes, speed, cut rhythm, flicker) and audio style (pitch and chord, beat,
noise). Every item jitters its genre's style (hue, speed, pitch, cut length,
phases), so items of one genre are alike but never identical. Some items carry
two genres (their scenes alternate between the two styles and their audio mixes
both), a few have no audio track, and some are commercials (``kind=ad``,
no genres) made in one genre's style.

``generate_corpus(out_dir, n_items=..., seconds=..., size=...)`` writes the videos
and ``manifest.csv`` (columns ``id,title,genres,kind,year,plot,path``, genres
``A|B``, paths relative to the manifest) that ``reelmatch import`` reads.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from reelmatch.config import atomic_write_bytes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenreStyle:
    background: tuple[int, int, int]
    foreground: tuple[int, int, int]
    brightness: float  # 0..1 scale of the background
    shape: str  # box | circle | ring | bar
    n_shapes: int
    speed: float  # shape motion, cycles per second
    cut: float  # seconds per scene
    stripes: float  # texture stripe frequency (0 = none)
    flicker: float  # 0..1 frame-to-frame brightness flicker
    grain: float  # 0..1 noise texture
    pitch: float  # Hz
    chord: tuple[float, ...]  # frequency ratios
    beat: float  # pulses per second (0 = sustained)
    noise: float  # 0..1


GENRES: dict[str, GenreStyle] = {
    "Action": GenreStyle((210, 90, 20), (255, 230, 0), 0.85, "box", 3, 1.6, 1.0, 0.0, 0.0, 0.08,
                         110.0, (1.0, 1.5), 4.0, 0.35),
    "Comedy": GenreStyle((250, 225, 70), (30, 150, 255), 1.0, "circle", 4, 0.9, 2.5, 0.0, 0.0, 0.0,
                         523.0, (1.0, 1.25, 1.5), 2.0, 0.02),
    "Drama": GenreStyle((110, 85, 70), (215, 195, 160), 0.7, "bar", 1, 0.15, 5.0, 0.0, 0.0, 0.02,
                        220.0, (1.0, 1.2), 0.0, 0.01),
    "Horror": GenreStyle((25, 10, 20), (190, 0, 0), 0.35, "circle", 2, 0.35, 3.0, 0.0, 0.6, 0.25,
                         55.0, (1.0, 1.06), 0.5, 0.45),
    "Romance": GenreStyle((240, 150, 185), (255, 250, 250), 0.95, "circle", 2, 0.25, 4.0, 3.0, 0.0, 0.0,
                          330.0, (1.0, 1.25, 1.5), 1.0, 0.0),
    "SciFi": GenreStyle((10, 30, 90), (0, 255, 210), 0.6, "ring", 3, 0.6, 2.0, 8.0, 0.1, 0.03,
                         880.0, (1.0, 2.0), 8.0, 0.05),
}

_WORDS = ("Crimson", "Silent", "Golden", "Broken", "Midnight", "Hidden", "Electric", "Last", "Wild", "Paper",
          "Frozen", "Distant", "Velvet", "Iron", "Hollow", "Burning", "Glass", "Secret", "Lunar", "Northern")
_NOUNS = ("Harbor", "Signal", "Garden", "Empire", "River", "Protocol", "Promise", "Horizon", "Echo", "Orchard",
          "Frontier", "Letter", "Machine", "Season", "Mirror", "Storm", "Kingdom", "Station", "Summer", "Voyage")


@dataclass(frozen=True)
class _Item:
    index: int
    genres: tuple[str, ...]
    style_genres: tuple[str, ...]  # the styles it is drawn in
    kind: str
    audio: bool
    seed: int


def _plan(n_items: int, seed: int, genres: tuple[str, ...], two_genre: float, no_audio: float, ads: float) -> list[_Item]:
    rng = np.random.default_rng([seed, 1])
    items = []
    for i in range(n_items):
        g0 = genres[i % len(genres)]  # balanced genres
        kind = "ad" if rng.random() < ads and i >= len(genres) else "trailer"
        style = (g0,)
        if kind == "trailer" and rng.random() < two_genre:
            g1 = genres[(genres.index(g0) + 1 + int(rng.integers(len(genres) - 1))) % len(genres)]
            style = (g0, g1)
        audio = not (rng.random() < no_audio and i >= len(genres))
        items.append(_Item(i, style if kind == "trailer" else (), style, kind, audio, int(rng.integers(2**31))))
    return items


_SHAPES = ("box", "circle", "ring", "bar")


def source_looks(genres: tuple[str, ...], n_sources: int, seed: int) -> dict[tuple[str, int], GenreStyle]:
    """``n_sources`` unlike-looking visual sources per genre: ``{(genre, source): style}``.

    Each source has its own palette (hues spread around the colour wheel and dealt
    to the genres in turn, so one genre's sources lie 1/n_sources of the wheel apart
    and its neighbours in colour belong to other genres), brightness, shape, texture, motion and cut
    rhythm; the sound stays the genre's. A genre then has no common look for
    pretrained image features to group, while its sound is shared.
    """
    import colorsys

    rng = np.random.default_rng([seed, 9])
    n = len(genres) * n_sources
    hues = (np.arange(n) + rng.uniform(0, 1)) / n  # slot k of the wheel: genre k % G, source k // G
    out = {}
    for k in range(n):
        g, s = genres[k % len(genres)], k // len(genres)
        h = hues[k]
        light = rng.uniform(0.3, 0.7)
        bg = tuple(int(255 * c) for c in colorsys.hls_to_rgb(h, light, rng.uniform(0.5, 1.0)))
        fg = tuple(int(255 * c) for c in colorsys.hls_to_rgb((h + rng.uniform(0.25, 0.75)) % 1, 1 - light, 0.9))
        base = GENRES[g]
        out[(g, s)] = replace(
            base, background=bg, foreground=fg, brightness=float(rng.uniform(0.4, 1.0)),
            shape=_SHAPES[int(rng.integers(len(_SHAPES)))], n_shapes=int(rng.integers(1, 5)),
            speed=float(rng.uniform(0.15, 1.6)), cut=float(rng.uniform(1.0, 5.0)),
            stripes=float(rng.choice([0.0, 0.0, 3.0, 8.0])), flicker=float(rng.choice([0.0, 0.0, 0.3])),
            grain=float(rng.choice([0.0, 0.05, 0.25])))
    return out


class _Painter:
    """Frames of one item: (index, t) -> uint8 [size, size, 3]."""

    def __init__(self, item: _Item, size: int, seconds: float, genre_look: float = 1.0,
                 looks: list[GenreStyle] | None = None):
        self.size = size
        self.item = item
        rng = np.random.default_rng([item.seed, 2])
        self.styles = list(looks) if looks is not None else [self._mix(GENRES[g], rng, genre_look)
                                                              for g in item.style_genres]
        self.tint = [rng.uniform(-40, 40, 3) for _ in self.styles]
        self.speed = [s.speed * rng.uniform(0.75, 1.3) for s in self.styles]
        scale = min(1.0, seconds / 10.0)  # short clips still show several scenes (and both genres)
        self.cut = [s.cut * scale * rng.uniform(0.7, 1.3) for s in self.styles]
        self.phase = rng.uniform(0, 2 * np.pi, 16)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
        self.yy, self.xx = yy, xx
        self.grain = np.random.default_rng([item.seed, 3]).random((4, size, size)).astype(np.float32)

    @staticmethod
    def _mix(st: GenreStyle, rng, w: float) -> GenreStyle:
        """The genre's style with its look (palette, brightness, shape) blended with a random one.

        ``w`` = 1 keeps the genre's look; lower values make items look like any genre
        (an item-specific distraction), leaving motion, cuts, flicker, texture and
        sound as the genre's cues.
        """
        if w >= 1.0:
            return st
        other = list(GENRES.values())[int(rng.integers(len(GENRES)))]
        mix = lambda a, b: tuple(int(w * x + (1 - w) * y) for x, y in zip(a, b))  # noqa: E731
        shape = st.shape if rng.random() < w else other.shape
        return replace(st, background=mix(st.background, other.background), foreground=mix(st.foreground, other.foreground),
                       brightness=w * st.brightness + (1 - w) * other.brightness, shape=shape)

    def _scene(self, t: float) -> tuple[int, int]:
        """(style index, scene number) at time t: scenes of two-genre items alternate styles."""
        k = len(self.styles)
        total, scene = 0.0, 0
        while True:  # scenes are short; this walks at most t / min(cut) steps
            s = scene % k
            if total + self.cut[s] > t:
                return s, scene
            total += self.cut[s]
            scene += 1

    def __call__(self, i: int, t: float) -> np.ndarray:
        si, scene = self._scene(t)
        st = self.styles[si]
        srng = np.random.default_rng([self.item.seed, 4, scene])
        bg = np.clip(np.array(st.background, np.float32) + self.tint[si] + srng.uniform(-15, 15, 3), 0, 255)
        fg = np.clip(np.array(st.foreground, np.float32) + self.tint[si] * 0.5, 0, 255)
        light = st.brightness * (0.75 + 0.25 * self.yy if scene % 2 else 0.75 + 0.25 * self.xx)
        img = bg[None, None, :] * light[..., None]
        if st.stripes:
            ang = srng.uniform(0, np.pi)
            wave = np.sin(2 * np.pi * st.stripes * (np.cos(ang) * self.xx + np.sin(ang) * self.yy) + t)
            img = img * (0.85 + 0.15 * wave[..., None])
        if st.grain:
            img = img * (1 - st.grain) + 255 * st.grain * self.grain[i % 4][..., None] * st.brightness
        sp = self.speed[si]
        for j in range(st.n_shapes):
            ph = self.phase[j] + scene
            cx = 0.5 + 0.38 * np.sin(2 * np.pi * sp * t + ph)
            cy = 0.5 + 0.38 * np.cos(2 * np.pi * sp * 0.77 * t + 1.7 * ph)
            r = 0.09 + 0.04 * ((j + scene) % 3)
            dx, dy = self.xx - cx, self.yy - cy
            if st.shape == "box":
                m = (np.abs(dx) < r) & (np.abs(dy) < r * 0.7)
            elif st.shape == "circle":
                m = dx * dx + dy * dy < r * r
            elif st.shape == "ring":
                d = np.sqrt(dx * dx + dy * dy)
                m = np.abs(d - r * 1.3) < 0.025 + 0.01 * j
            else:  # bar: a wide slow band
                m = np.abs(dy) < r * 0.6
            img[m] = fg
        if st.flicker:
            img = img * (1 - st.flicker * (0.5 + 0.5 * np.sin(37.0 * t + self.phase[0])))
        return np.clip(img, 0, 255).astype(np.uint8)


class _Sound:
    """Audio of one item: times [n] -> float32 [n] in [-1, 1]."""

    def __init__(self, item: _Item, sample_rate: int = 16000):
        rng = np.random.default_rng([item.seed, 5])
        self.parts = []
        for g in item.style_genres:
            st = GENRES[g]
            self.parts.append((st, st.pitch * rng.uniform(0.92, 1.08), st.beat * rng.uniform(0.85, 1.15), rng.uniform(0, 1)))
        self.noise = np.random.default_rng([item.seed, 6]).uniform(-1, 1, sample_rate).astype(np.float32)
        self.sample_rate = sample_rate

    def __call__(self, t: np.ndarray) -> np.ndarray:
        out = np.zeros(len(t), np.float64)
        for st, pitch, beat, phase in self.parts:
            tone = sum(np.sin(2 * np.pi * pitch * r * t) for r in st.chord) / len(st.chord)
            env = 1.0 if beat == 0 else 0.25 + 0.75 * np.exp(-6.0 * ((t * beat + phase) % 1.0))
            noise = self.noise[(np.asarray(t) * self.sample_rate).astype(np.int64) % len(self.noise)]
            out += (1 - st.noise) * tone * env + st.noise * noise * (env if beat else 1.0)
        return (0.4 * out / len(self.parts)).astype(np.float32)


_OPENERS = ("In a small coastal town", "Years after the war", "On the eve of a wedding", "In a city that never sleeps",
            "During one long summer", "Far from home", "At the edge of the desert", "In a crowded apartment block",
            "On a remote island", "After a long winter", "In the last days of school", "Somewhere in the mountains")
_PEOPLE = ("a retired teacher", "two estranged brothers", "a young pilot", "a stubborn journalist", "an ageing singer",
           "a night-shift nurse", "a quiet librarian", "three old friends", "a travelling salesman", "a new detective",
           "a widowed farmer", "a teenage runaway")
_EVENTS = ("finds an old letter", "takes a job nobody wants", "returns to the family farm", "meets a stranger on a train",
           "inherits a crumbling house", "loses everything in one night", "agrees to one last favour",
           "starts over in a new town", "opens a shop on the main street", "answers a strange advertisement")
#: phrases that hint at a genre, as a real plot's words do (about half the plots carry one, some a misleading one)
_CUES = {
    "Action": ("and is drawn into a high-speed chase", "and must stop an armed gang", "leading to an explosive showdown",
               "while a bomb ticks under the city"),
    "Comedy": ("with hilarious consequences", "and one awkward mix-up follows another", "and chaos and pranks follow",
               "and nobody can keep a straight face"),
    "Drama": ("and must face a painful family secret", "while grief tears the family apart",
              "and struggles to forgive the past", "as an illness changes everything"),
    "Horror": ("and something begins to hunt them in the dark", "as a curse wakes in the old house",
               "and the whispers in the walls grow louder", "and the dead do not stay buried"),
    "Romance": ("and falls hopelessly in love", "and an unlikely romance blooms", "and a first kiss changes everything",
                "and two hearts find each other"),
    "SciFi": ("and discovers a signal from a distant planet", "as a time machine goes wrong",
              "and the robots begin to think for themselves", "on a starship far from Earth"),
}
_PRODUCTS = ("a family car", "a soft drink", "a phone plan", "running shoes", "a breakfast cereal", "a bank")


def _plot(item: _Item) -> str:
    """A plot-like sentence: neutral parts, plus a genre cue on about half the items (one of its
    own genres) and a misleading one (any genre) on about a fifth, so the text is a weak, noisy
    signal of genre as real plots are, not its label written out."""
    rng = np.random.default_rng([item.seed, 11])
    pick = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
    u = rng.random()
    cue = ""
    if u < 0.5:
        cue = " " + pick(_CUES.get(pick(item.style_genres), ("",)))
    elif u < 0.7:
        cue = " " + pick(_CUES[pick(sorted(_CUES))])
    if item.kind == "ad":
        return f"A commercial for {pick(_PRODUCTS)}: {pick(_PEOPLE)} {pick(_EVENTS)}{cue}."
    return f"{pick(_OPENERS)}, {pick(_PEOPLE)} {pick(_EVENTS)}{cue}."


def _title(item: _Item) -> str:
    rng = np.random.default_rng([item.seed, 7])
    name = f"{_WORDS[int(rng.integers(len(_WORDS)))]} {_NOUNS[int(rng.integers(len(_NOUNS)))]} {item.index:03d}"
    return f"Ad: {name} ({item.style_genres[0].lower()} style)" if item.kind == "ad" else name


def generate_corpus(
    out_dir,
    *,
    n_items: int = 24,
    seconds: float = 2.0,
    size: int = 64,
    seed: int = 0,
    fps: int | None = None,
    genres: tuple[str, ...] | None = None,
    two_genre: float = 0.25,
    no_audio: float = 0.08,
    ads: float = 0.06,
    container: str = "mp4",
    genre_look: float = 0.5,
    visual_sources: int = 0,
) -> Path:
    """Write ``n_items`` synthetic trailers/ads to ``out_dir`` and return the path of ``manifest.csv``.

    ``genre_look`` (0..1) is how much of an item's look (palette, brightness, shape)
    comes from its genre; below 1 the rest is a random other genre's look, so
    pretrained image features see mostly distraction and the genre shows in the
    motion, cuts, flicker, texture and sound (a harder, more trailer-like task).

    ``visual_sources`` > 0: each genre's pictures come from that many unlike-looking
    sources (:func:`source_looks`; an item is drawn in one of them, ``genre_look`` is then
    unused) while its sound is the genre's: pretrained frame features group the
    sources, not the genres, and only the sound ties a genre's sources together.
    The manifest then has a ``source`` column (``Action/2``).

    Deterministic: the same arguments give the same files. ``fps`` defaults to 8
    for clips up to 10 s and 4 beyond (extraction samples a few frames anyway).
    Existing video files are kept (a re-run only writes what is missing).
    """
    from reelmatch.errors import InputError
    from reelmatch.samples.media import write_video

    genres = tuple(genres or GENRES)
    unknown = [g for g in genres if g not in GENRES]
    if unknown or len(genres) < 2:
        raise InputError(f"genres must be at least two of {', '.join(GENRES)}; got {genres}")
    if n_items < 1 or seconds <= 0 or size < 16:
        raise InputError(f"invalid corpus size: n_items={n_items}, seconds={seconds}, size={size}")
    fps = fps or (8 if seconds <= 10 else 4)
    out_dir = Path(out_dir)
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    rows = []
    catalogue = source_looks(genres, visual_sources, seed) if visual_sources > 0 else None
    for it in _plan(n_items, seed, genres, two_genre, no_audio, ads):
        rel = f"videos/sample_{seed}_{it.index:04d}.{container}"
        path = out_dir / rel
        looks = sources = None
        if catalogue is not None:
            srng = np.random.default_rng([it.seed, 8])
            sources = [int(srng.integers(visual_sources)) for _ in it.style_genres]
            looks = [catalogue[(g, s)] for g, s in zip(it.style_genres, sources)]
        if not path.exists():
            tmp = path.with_name(".tmp_" + path.name)
            write_video(tmp, seconds=seconds, width=size, height=size, fps=fps,
                        frames=_Painter(it, size, seconds, genre_look, looks),
                        audio=_Sound(it) if it.audio else False)
            tmp.replace(path)
        rows.append({"id": f"sample-{seed}-{it.index:04d}", "title": _title(it), "genres": "|".join(it.genres),
                     "kind": it.kind, "year": str(1980 + (it.seed % 45)), "plot": _plot(it), "path": rel})
        if sources is not None:
            rows[-1]["source"] = "|".join(f"{g}/{s}" for g, s in zip(it.style_genres, sources))
    buf = io.StringIO()
    names = ["id", "title", "genres", "kind", "year", "plot", "path"] + (["source"] if catalogue is not None else [])
    w = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    manifest = out_dir / "manifest.csv"
    atomic_write_bytes(manifest, buf.getvalue().encode())
    log.info("sample corpus: %d items in %s", len(rows), out_dir)
    return manifest
