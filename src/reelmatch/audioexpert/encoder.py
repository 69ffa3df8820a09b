"""The frozen pretrained audio expert ``aisfx``: a waveform -> one 512-d sound embedding.

``aisfx`` (PyPI, code MIT, weights CC-BY-4.0) is the sound-effects CNN of
Ma & Lerch, *Representation Learning for the Automatic Indexing of Sound Effects
Libraries* (ISMIR 2022): the embedding network of its best model
(X-Sequential-CE, a 9-layer ConvNet from the DCASE cross-task baseline) trained
on several sound-effects libraries labelled with the Universal Category System.

The package ships the weights but its front-end is not usable here (its Essentia
path needs Essentia, its librosa path blocks the spectrogram along the wrong
axis), so the front-end is ours, as the model was trained:

1. mono at 44.1 kHz, peak-normalised (:func:`aisfx_logmel`);
2. power STFT, periodic Hann, n_fft 2048, hop 1024, frames centred (zero padded);
3. 96 HTK mel bands from 0 Hz to Nyquist, each filter summing to 1 (Essentia's
   ``unit_sum``, librosa's ``norm=1``);
4. ``log10(1e4 * S + 1) / 9.4578`` (aisfx's "original" normalisation);
5. transposed to float32 [T, 96] and cut into blocks of 100 frames (~2.3 s)
   with a hop of 50 (:func:`spectrogram_blocks`);
6. each block embedded by the CNN (float32 [512]); the item's vector is the mean
   over blocks, L2-normalised (:meth:`AisfxEncoder.embed`).

The checkpoint is a pickle holding the state dict and a dict of numpy scalars;
it is read with ``torch.load(weights_only=True)`` and an explicit allow-list of
exactly those numpy globals (:func:`numpy_globals`), never a plain unpickle.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np

from reelmatch.errors import InputError

log = logging.getLogger(__name__)

NAME = "aisfx"
#: the release the front-end constants and the weights below were checked against
PACKAGE_VERSION = "0.1.2"
INSTALL = f"pip install --no-deps {NAME}=={PACKAGE_VERSION}"
LICENCE = "code MIT, weights CC-BY-4.0 (A. B. Ma and A. Lerch, ISMIR 2022)"

SAMPLE_RATE = 44100
N_FFT = 2048
HOP = 1024
N_MELS = 96
#: aisfx ``spectrogram_normalize(spec_norm="original")``: the largest log value over its training data
LOG_MAX = 9.457798957824707
BLOCK = 100
BLOCK_HOP = 50
DIM = 512


# --------------------------------------------------------------- front-end
@lru_cache(maxsize=2)
def _unit_sum_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    from reelmatch.extract.audio import mel_filterbank

    fb = mel_filterbank(sample_rate, n_fft, n_mels).astype(np.float64)
    fb /= np.maximum(fb.sum(axis=1, keepdims=True), 1e-12)
    return fb.astype(np.float32)


def aisfx_logmel(y: np.ndarray) -> np.ndarray:
    """The model's input for mono ``y`` (float [n] at 44.1 kHz): float32 [T, 96], T = 1 + n // 1024.

    ``y`` is peak-normalised here; values are about 0 (silence) to 1.
    """
    from reelmatch.extract.audio import power_spectrogram

    y = np.asarray(y, dtype=np.float32).reshape(-1)
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0:
        y = y / np.float32(peak)
    y = np.pad(y, (N_FFT // 2, N_FFT // 2))  # frames centred on multiples of the hop
    # power_spectrogram scales a full-scale sine to 1; the model saw the raw |FFT|^2
    window_gain = (np.hanning(N_FFT + 1)[:-1].sum() / 2.0) ** 2
    power = power_spectrogram(y, N_FFT, HOP) * np.float32(window_gain)
    mel = _unit_sum_filterbank(SAMPLE_RATE, N_FFT, N_MELS) @ power  # [96, T]
    return np.ascontiguousarray((np.log10(mel * 1e4 + 1.0) / LOG_MAX).T, dtype=np.float32)


def spectrogram_blocks(spec: np.ndarray, block: int = BLOCK, hop: int = BLOCK_HOP) -> np.ndarray:
    """float32 [n, block, F] windows of ``spec`` [T, F] every ``hop`` frames.

    As aisfx blocks (``drop_partial_block=True``): only whole blocks, except that a
    spectrogram shorter than one block gives one block, zero-padded at the end.
    """
    if spec.ndim != 2:
        raise ValueError(f"spectrogram must be [T, F], got {spec.shape}")
    if hop < 1 or block < 1:
        raise ValueError(f"block ({block}) and hop ({hop}) must be >= 1")
    t, f = spec.shape
    if t < block:
        out = np.zeros((1, block, f), np.float32)
        out[0, :t] = spec
        return out
    starts = range(0, t - block + 1, hop)
    return np.stack([spec[s : s + block] for s in starts]).astype(np.float32, copy=False)


# ------------------------------------------------------------------- model
class MissingEncoderError(InputError):
    """The encoder's package is not installed (the message says what to install)."""


def numpy_globals() -> list:
    """The globals the aisfx checkpoint pickles (numpy scalars in its ``ds_dict``), by the names it uses."""
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar
    return [(scalar, "numpy.core.multiarray.scalar"), np.dtype, type(np.dtype(np.int64))]


def _import_aisfx():
    try:
        from aisfx.inference import get_path_modelWeights
        from aisfx.models.cnn2d import EmbeddingNet
    except ImportError as e:
        raise MissingEncoderError(f"install {NAME}: {INSTALL} (audio modality, encoder {NAME}; {e})") from None
    return EmbeddingNet, get_path_modelWeights


def load_aisfx_state(path=None) -> dict:
    """The embedding network's state dict (``embedding_net.`` prefix removed) from the aisfx checkpoint."""
    import torch

    _, weights_path = _import_aisfx()
    path = path or weights_path()
    try:
        with torch.serialization.safe_globals(numpy_globals()):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a damaged or unexpected checkpoint
        raise InputError(f"{NAME}: cannot read the weights {path} ({' '.join(str(e).split())[:300]})") from None
    weights = loaded[0] if isinstance(loaded, (tuple, list)) else loaded
    prefix = "embedding_net."
    state = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
    if not state:
        raise InputError(f"{NAME}: {path} holds no '{prefix}*' weights")
    return state


class AisfxEncoder:
    """The frozen aisfx CNN: ``embed(y) -> float32 [512]``, ``embed_blocks(b) -> float32 [n, 512]``."""

    name = NAME
    dim = DIM
    sample_rate = SAMPLE_RATE

    def __init__(self, *, device: str = "cpu", batch_size: int = 32):
        import torch

        EmbeddingNet, _ = _import_aisfx()
        net = EmbeddingNet("max", 3, 1, 64)  # the architecture of aisfx.inference.load_bestModel
        net.load_state_dict(load_aisfx_state())
        self._net = net.to(device).eval().requires_grad_(False)
        self._device = device
        self.batch_size = int(batch_size)
        self._torch = torch

    def embed_blocks(self, blocks: np.ndarray) -> np.ndarray:
        """float32 [n, 512] CNN outputs (not normalised) for ``blocks`` float32 [n, 100, 96]."""
        if blocks.ndim != 3 or blocks.shape[2] != N_MELS:
            raise ValueError(f"blocks must be [n, T, {N_MELS}], got {blocks.shape}")
        torch = self._torch
        out = np.zeros((len(blocks), DIM), np.float32)
        with torch.inference_mode():
            for s in range(0, len(blocks), self.batch_size):
                x = torch.from_numpy(np.ascontiguousarray(blocks[s : s + self.batch_size], dtype=np.float32))
                out[s : s + len(x)] = self._net(x.to(self._device)).cpu().numpy()
        return out

    def embed_spectrogram(self, spec: np.ndarray, *, block_hop: int = BLOCK_HOP) -> np.ndarray:
        """float32 [512], unit norm: the mean block embedding of ``spec`` float32 [T, 96] (see the module doc)."""
        v = self.embed_blocks(spectrogram_blocks(spec, BLOCK, block_hop)).mean(axis=0)
        n = float(np.linalg.norm(v))
        if not np.isfinite(n) or n <= 0:
            raise ValueError("aisfx gave a zero or non-finite embedding")
        return (v / n).astype(np.float32)

    def embed(self, y: np.ndarray, *, block_hop: int = BLOCK_HOP) -> np.ndarray:
        """float32 [512], unit norm, for mono ``y`` (float [n] at 44.1 kHz, any level)."""
        return self.embed_spectrogram(aisfx_logmel(y), block_hop=block_hop)


def create_aisfx_encoder(*, device: str = "cpu", batch_size: int = 32) -> AisfxEncoder:
    """The aisfx encoder; a one-line ``InputError`` saying what to install when the package is missing."""
    return AisfxEncoder(device=device, batch_size=batch_size)
