"""``rfft_rows(x float32[n, m]) -> complex64[n, m // 2 + 1]``: scipy's pocketfft, without importing ``scipy.fft``.

The log-mel's STFT uses scipy's FFT (it keeps float32 and transforms many rows
at once: ~5x faster than numpy's here). But ``from scipy import fft`` costs about
0.3 s of CPU (it loads scipy.special, the array-API layer, numpy.f2py...) in
every process that computes a log-mel, which is a large share of a short
``reelmatch extract`` command. The transform itself is one compiled module,
``scipy.fft._pocketfft.pypocketfft``: it is loaded on its own here (registered
under its own name, so a later ``import scipy.fft`` reuses it) and called as
``scipy.fft.rfft`` calls it. If that fails (a scipy whose layout differs), this
falls back to ``scipy.fft.rfft``; the result is the same either way (a test
compares them).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import os
import sys

import numpy as np

log = logging.getLogger(__name__)

_MODULE = "scipy.fft._pocketfft.pypocketfft"


def _load_pocketfft():
    """The ``pypocketfft`` extension module, or None when it cannot be loaded on its own."""
    if _MODULE in sys.modules:
        return sys.modules[_MODULE]
    try:
        spec = importlib.util.find_spec("scipy")  # finds the package without importing it
        folder = os.path.join(spec.submodule_search_locations[0], "fft", "_pocketfft")
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "pypocketfft" + suffix)
            if os.path.exists(path):
                break
        else:
            return None
        loader = importlib.machinery.ExtensionFileLoader(_MODULE, path)
        module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(_MODULE, path, loader=loader))
        loader.exec_module(module)
        module.r2c  # noqa: B018 - the function used below must exist
    except Exception as e:  # noqa: BLE001 - any surprise: the public scipy.fft
        log.debug("pocketfft not loadable on its own (%s); using scipy.fft", e)
        return None
    sys.modules[_MODULE] = module
    return module


_pocketfft = _load_pocketfft()


def rfft_rows(x: np.ndarray) -> np.ndarray:
    """Real FFT of each row of ``x`` (float32 [n, m]): complex64 [n, m // 2 + 1], as ``scipy.fft.rfft(x, axis=1)``."""
    x = np.asarray(x)
    if x.ndim != 2 or x.dtype != np.float32:
        raise ValueError(f"rfft_rows takes float32 [n, m], got {x.dtype} {x.shape}")
    if _pocketfft is not None:
        return _pocketfft.r2c(x, (1,), True, 0, None, 1)  # forward, no normalisation, one thread
    from scipy import fft

    return fft.rfft(x, axis=1)
