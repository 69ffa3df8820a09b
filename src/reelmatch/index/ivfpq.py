"""The compressed structure for 10M+ vectors: FAISS IVF-PQ (inner product).

An inverted file of ``nlist`` k-means lists over the vectors, each vector stored
as a product-quantised code of ``pq_m * pq_nbits / 8`` bytes (32 bytes for the
defaults: 256-d float32 vectors take 1024 bytes flat, so 32x less memory). A
query visits the ``nprobe`` nearest lists. ``refine="sq8"`` keeps a second,
8-bit scalar-quantised copy (1 byte per dimension) and re-ranks the
``refine_factor * k`` best PQ candidates with it, which buys back most of the
recall PQ loses; ``"flat"`` re-ranks with the exact vectors (flat memory).

The structure is trained on the first vectors added (a sample of at most
``64 * nlist`` of them; k-means and the PQ codebooks), so build it from a
representative set; later adds reuse the training. Stored vectors read back
(``Index.vector``, compaction) are the decoded approximations.

Memory per vector: PQ code + 8-byte id in its list (+ ``d`` bytes with sq8).
The benchmark ``benchmarks/index.py --ivfpq`` reports recall and memory at 1M.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from reelmatch.errors import InputError, require

log = logging.getLogger(__name__)

#: training points per IVF list (FAISS warns below 39; its own cap is 256)
TRAIN_PER_LIST = 64


def auto_nlist(n: int) -> int:
    """About ``sqrt(n)`` lists, a power of two, at most ``n // 39`` (enough points to train each).

    FAISS suggests 4-16 sqrt(n) for the fastest queries; sqrt(n) keeps the k-means
    training of a 10M catalogue to minutes on a few cores. Set ``ivf_nlist`` to choose.
    """
    target = max(math.sqrt(max(n, 1)), 1)
    nlist = 2 ** int(round(math.log2(target)))
    return int(max(1, min(nlist, n // 39 or 1)))


def factory_string(dim: int, n: int, config) -> str:
    """The ``faiss.index_factory`` description, e.g. ``"IVF1024,PQ32x8np,Refine(SQ8)"``."""
    if dim % config.pq_m:
        raise InputError(f"pq_m={config.pq_m} must divide the vector dimension {dim}")
    nlist = config.ivf_nlist or auto_nlist(n)
    desc = f"IVF{nlist},PQ{config.pq_m}x{config.pq_nbits}np"  # np: no polysemous training (10x slower, unused)
    if config.refine == "sq8":
        desc += ",Refine(SQ8)"
    elif config.refine == "flat":
        desc += ",RFlat"
    return desc


def train_new(dim: int, vectors: np.ndarray, config, seed: int = 0):
    """A trained, empty IVF-PQ index for vectors like ``vectors`` float32 [n, dim]."""
    faiss = require("faiss", "ml")
    n = vectors.shape[0]
    min_points = 2**config.pq_nbits
    if n < min_points:
        raise InputError(
            f"an ivfpq index needs at least {min_points} vectors to train its codebooks (pq_nbits={config.pq_nbits}),"
            f" got {n}: use kind 'flat' or 'hnsw' for so few"
        )
    desc = factory_string(dim, n, config)
    index = faiss.index_factory(dim, desc, faiss.METRIC_INNER_PRODUCT)
    ivf = faiss.extract_index_ivf(index)
    sample = vectors
    cap = TRAIN_PER_LIST * ivf.nlist
    if n > cap:
        rng = np.random.default_rng(seed)
        sample = vectors[np.sort(rng.choice(n, cap, replace=False))]
    log.info("training %s on %d of %d vectors", desc, sample.shape[0], n)
    index.train(np.ascontiguousarray(sample))
    ivf.make_direct_map()  # labels -> codes, so vectors can be read back
    return index


def search_params(config, *, nprobe: int | None, sel):
    """FAISS search parameters (``nprobe``, refine factor, the live-label selector).

    Returns ``(params, keep)``: pass ``params`` to ``search``; hold ``keep`` until it returns.
    """
    faiss = require("faiss", "ml")
    ivf_params = faiss.SearchParametersIVF()
    ivf_params.nprobe = int(nprobe or config.nprobe)
    if sel is not None:
        ivf_params.sel = sel
    if config.refine == "none":
        return ivf_params, None
    params = faiss.IndexRefineSearchParameters()
    params.k_factor = float(config.refine_factor)
    params.base_index_params = ivf_params
    return params, ivf_params  # the caller keeps both alive through the search


def code_bytes(config, dim: int) -> int:
    """Bytes stored per vector (code + list id + refine copy), without the IVF centroids."""
    per = math.ceil(config.pq_m * config.pq_nbits / 8) + 8
    if config.refine == "sq8":
        per += dim
    elif config.refine == "flat":
        per += 4 * dim
    return per
