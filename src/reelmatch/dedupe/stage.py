"""The dedupe stage: describe the catalogue, find candidate pairs, group copies."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import numpy as np

from reelmatch.dedupe.config import DEFAULT_THRESHOLD, DedupeConfig
from reelmatch.dedupe.groups import connected_groups
from reelmatch.dedupe.scoring import PairScorer
from reelmatch.dedupe.similarity import copy_score
from reelmatch.dedupe.store import DescriptorStore
from reelmatch.errors import NotBuiltError, NotFoundError
from reelmatch.runner import Progress, RunOptions, Stage, StageResult, run_stage

log = logging.getLogger(__name__)
STAGE = "dedupe"


def _prepare_task(task):
    """Worker function (picklable): ``(item_id, path, config) -> (frames, times, audio)``."""
    from reelmatch.dedupe.descriptor import prepare_frames

    _item_id, path, config = task
    frames, times = prepare_frames(path, config)
    return frames, times, _fingerprint(path, config)


def _fingerprint(path, config: DedupeConfig) -> np.ndarray | None:
    """The soundtrack's Chromaprint sub-fingerprints (``config.audio``), else None."""
    if not config.audio:
        return None
    from reelmatch.dedupe.audio import audio_fingerprint

    return audio_fingerprint(path, max_seconds=config.max_seconds)


def _prepare_or_missing(task):
    """Worker function: frames of a task; a task without media is passed through (its item fails)."""
    return None if task[1] is None else _prepare_task(task)


class _DedupeJob:
    """Items not described with the config: frames decoded by the engine's workers, described here."""

    fn = staticmethod(_prepare_or_missing)
    marks_done = False

    def __init__(self, ws, config: DedupeConfig, options):
        self.ws, self.config = ws, config
        self.fingerprint = config.fingerprint
        self.store = DescriptorStore(ws, config)
        if config.audio:
            from reelmatch.dedupe.audio import require_chromaprint

            require_chromaprint()  # before any work: one clear error, not one per item
        self.tasks, self.missing = [], {}
        for item in ws.catalog.todo(STAGE, self.fingerprint, retry_failed=options.retry_failed):
            try:
                self.tasks.append((item.id, str(ws.media_file(item)), config))
            except NotFoundError as e:  # no media: the item fails, the batch goes on
                self.missing[item.id] = str(e)
        self.tasks += [(item_id, None, config) for item_id in self.missing]
        self.total = len(self.tasks)
        self._describer = None

    @property
    def describer(self):
        if self._describer is None:
            from reelmatch.dedupe.descriptor import FrameDescriber

            self._describer = FrameDescriber(self.config)
        return self._describer

    def write(self, task, result, error):
        item_id, path = task[0], task[1]
        if item_id in self.missing:
            return {item_id: self.missing[item_id]}
        if error is not None:
            return {item_id: error}
        frames, times, audio = result
        try:
            desc = self.describer.describe(frames)
        except Exception as e:  # a frame the backbone cannot take: that item fails, not the batch
            return {item_id: f"{path}: {type(e).__name__}: {e}"}
        self.store.put(item_id, desc, times, source=path, audio=audio)
        return {item_id: None}

    def close(self) -> dict:
        return {"artifact": self.store.root}


#: the dedupe descriptor stage, for :func:`reelmatch.runner.run_stage`
DEDUPE = Stage(STAGE, plan=_DedupeJob, timeout=600.0)


def describe_catalogue(
    ws,
    config: DedupeConfig = DedupeConfig(),
    *,
    workers: int | None = None,
    retry_failed: bool = False,
    timeout: float | None = 600.0,
    progress: Progress | None = None,
    on_item: Callable[[str, str | None], None] | None = None,
    engine=None,
) -> dict:
    """Compute copy descriptors of every catalogue item not done with ``config``.

    Decoding runs on ``engine`` (the :data:`DEDUPE` stage run by
    :func:`reelmatch.runner.run_stage`; local process pool by default, or Ray);
    the backbone runs in this process. A file that does not decode is marked
    failed in the catalogue with a one-line reason and the batch goes on.
    ``progress(done, total, id, error)`` (or the older ``on_item(id, error or None)``)
    is called after each item. Returns ``{"done": n, "failed": n, "failures":
    [{"id", "title", "error"}]}``.
    """
    return dedupe_stage(ws, config, workers=workers, retry_failed=retry_failed, timeout=timeout, progress=progress,
                        on_item=on_item, engine=engine).result


def dedupe_stage(ws, config: DedupeConfig = DedupeConfig(), *, workers=None, retry_failed=False, timeout=600.0,
                 progress=None, on_item=None, engine=None) -> StageResult:
    """:func:`describe_catalogue` returning the :class:`~reelmatch.runner.StageResult`."""
    if on_item is not None and progress is None:
        progress = lambda done, total, item_id, error: on_item(item_id, error)  # noqa: E731
    res = run_stage(ws, DEDUPE, config, engine, progress,
                    RunOptions(workers=workers, timeout=timeout, retry_failed=retry_failed))
    res.result = {"done": res.done, "failed": res.failed, "failures": res.failures}
    return res


def _done_ids(ws, config: DedupeConfig) -> list[str]:
    fp = config.fingerprint
    out = []
    for item in ws.catalog.items():
        st = ws.catalog.stage_of(item.id, STAGE)
        if st and st["status"] == "done" and st["fingerprint"] == fp:
            out.append(item.id)
    return out


def candidate_pairs(
    descs: dict[str, np.ndarray], threshold: float, *, index=None, k: int = 64, only: str | None = None,
    score: Callable[[str, str], float] | None = None, extra: Iterable[tuple[str, str]] = (),
) -> dict[tuple[str, str], float]:
    """Copy scores of the pairs that may reach ``threshold``, found with FAISS.

    A pair's chamfer score is a mean of per-frame maxima, so it can reach the
    threshold only when some frame pair does: candidates are the items owning one
    of the ``k`` nearest frames (inner product >= threshold) of a frame of the
    other. Only candidates get the full score. ``only``: pairs with this id.
    ``score(a, b)``: the pair score (default: the order-free chamfer ``copy_score``;
    the stage passes the temporally aligned :class:`scoring.PairScorer`, also a
    trimmed mean of frame similarities, so the same bound holds for its visual
    part). ``extra``: more pairs to score whatever their frames say (the
    soundtrack candidates of :class:`audio.AudioCandidates`).
    """
    if index is None:
        raise ValueError("candidate_pairs needs (index, owner, ids) from DescriptorStore.index")
    faiss_index, owner, ids = index
    k = max(1, min(k, int(faiss_index.ntotal)))
    scores: dict[tuple[str, str], float] = {}
    queries = [q for q in ([only] if only is not None else ids) if q in descs and len(descs[q])]
    # one search for many query frames at a time (FAISS is slow on many tiny batches)
    chunk, batch = [], 0
    for n, a in enumerate(queries):
        chunk.append(a)
        batch += len(descs[a])
        if batch < 8192 and n + 1 < len(queries):
            continue
        x = np.ascontiguousarray(np.concatenate([descs[q] for q in chunk]), dtype=np.float32)
        sims, rows = faiss_index.search(x, k)
        start = 0
        for q in chunk:
            s_q, r_q = sims[start : start + len(descs[q])], rows[start : start + len(descs[q])]
            start += len(descs[q])
            hit = (r_q >= 0) & (s_q >= threshold)
            cands = {ids[o] for o in set(owner[r_q[hit]].tolist())}
            cands.discard(q)
            for b in cands:
                key = (q, b) if q < b else (b, q)
                if key not in scores and b in descs:
                    scores[key] = score(q, b) if score is not None else copy_score(descs[q], descs[b])
        chunk, batch = [], 0
    for a, b in extra:
        key = (a, b) if a < b else (b, a)
        if key not in scores and a in descs and b in descs and (only is None or only in key):
            scores[key] = score(a, b) if score is not None else copy_score(descs[a], descs[b])
    return scores


def score_candidates(store: DescriptorStore, descs: dict[str, np.ndarray], times: dict[str, np.ndarray], threshold: float,
                     config: DedupeConfig, *, only: str | None = None, query: np.ndarray | None = None,
                     k: int = 64) -> tuple[PairScorer, dict[tuple[str, str], float]]:
    """``(scorer, {pair: score})`` for the candidate pairs (of ``only``, else all): frame candidates from the
    FAISS frame index plus soundtrack candidates (:class:`audio.AudioCandidates`).

    ``query``: ``only`` is a new file, not stored (its descriptor and times are in ``descs``/``times``), and
    this is its soundtrack fingerprint (empty: none)."""
    from reelmatch.dedupe.audio import AudioCandidates

    stored = {i: d for i, d in descs.items() if query is None or i != only}
    audio = _audio_of(store, stored, config)
    if query is not None and len(query) and config.audio:
        audio[only] = query
    pairer = PairScorer(descs, times, audio)
    sounds = AudioCandidates(audio)
    extra = sounds.pairs() if only is None else [(only, b) for b in sounds.of(only)]
    scores = candidate_pairs(descs, threshold, index=store.index(stored), k=k, only=only, score=pairer, extra=extra)
    return pairer, scores


def _audio_of(store: DescriptorStore, ids, config: DedupeConfig) -> dict[str, np.ndarray]:
    """The stored soundtrack fingerprints of ``ids`` (none when ``config.audio`` is off)."""
    if not config.audio:
        return {}
    return {i: a for i in ids if (a := store.audio(i)) is not None and len(a)}


def find_duplicates(
    ws, threshold: float = DEFAULT_THRESHOLD, config: DedupeConfig = DedupeConfig(), *, k: int = 64
) -> dict:
    """The ``dedupe`` JSON document: ``{"groups": [{"score", "items": [{"id", "title", "path"}]}]}``.

    Uses the descriptors already computed (run :func:`describe_catalogue` first).
    Also reports ``"threshold"``, ``"described"`` (items with descriptors) and
    ``"failures"`` (items whose media did not decode).
    """
    store = DescriptorStore(ws, config)
    descs = store.load_all(_done_ids(ws, config))
    groups = []
    if len(descs) > 1:
        pairer, scores = score_candidates(store, descs, {i: store.times(i) for i in descs}, threshold, config, k=k)
        for score, members in connected_groups(((a, b, s) for (a, b), s in scores.items()), threshold):
            items = []
            for i in members:
                it = ws.catalog.get(i)
                items.append({"id": it.id, "title": it.title, "path": str(ws.media_file(it)) if it.media_path else None})
            groups.append({"score": round(score, 4), "items": items, "pairs": pairer.explain_group(members, scores, threshold)})
    failures = [f for f in ws.catalog.status()["failures"] if f["stage"] == STAGE]
    return {
        "groups": groups,
        "threshold": threshold,
        "described": len(descs),
        "failures": [{"id": f["id"], "title": f["title"], "error": f["error"]} for f in failures],
    }


def _copies_of(ws, config: DedupeConfig, desc: np.ndarray, threshold: float, self_id: str | None, times=None,
               sound: np.ndarray | None = None) -> set[str]:
    store = DescriptorStore(ws, config)
    descs = store.load_all(_done_ids(ws, config))
    if not descs:
        raise NotBuiltError("no copy descriptors in this workspace yet: run 'reelmatch dedupe' first")
    if len(desc) == 0:
        return set()
    key = self_id if self_id is not None else "\x00query"
    all_descs = {**descs, key: desc}
    all_times = {i: store.times(i) for i in descs}
    all_times[key] = times if times is not None else store.times(key)
    new = None if self_id is not None else (sound if sound is not None else np.zeros(0, np.uint32))
    _pairer, scores = score_candidates(store, all_descs, all_times, threshold, config, only=key, query=new)
    return {b if a == key else a for (a, b), s in scores.items() if s >= threshold} - {key}


def duplicates_of(ws, item_id: str, threshold: float = DEFAULT_THRESHOLD, config: DedupeConfig = DedupeConfig()) -> set[str]:
    """Ids of the items whose copy score with ``item_id`` reaches ``threshold``.

    Uses the stored copy descriptors; empty when the item has none yet (run
    ``reelmatch dedupe``). Candidates come from the FAISS frame index, so this
    does not score the whole catalogue.
    """
    desc = DescriptorStore(ws, config).get(item_id)
    if desc is None:
        state = ws.catalog.stage_of(item_id, "dedupe")
        if state is not None and state["status"] == "failed":
            log.warning("dedupe: %s has no copy descriptor (%s); no duplicates known", item_id, state["error"])
            return set()
        raise NotBuiltError(f"item {item_id} has no copy descriptor yet: run 'reelmatch dedupe' first")
    return _copies_of(ws, config, desc, threshold, item_id)


def duplicates_of_file(ws, path, threshold: float = DEFAULT_THRESHOLD, config: DedupeConfig = DedupeConfig()) -> set[str]:
    """Ids of catalogue items that are copies of the video file ``path`` (described now)."""
    from reelmatch.dedupe.descriptor import FrameDescriber, prepare_frames

    frames, times = prepare_frames(path, config)
    if len(frames) == 0:  # only blank frames: nothing to match with
        return set()
    return _copies_of(ws, config, FrameDescriber(config).describe(frames), threshold, None, times, _fingerprint(path, config))
