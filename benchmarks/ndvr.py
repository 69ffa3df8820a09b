"""Near-duplicate video retrieval benchmark (same as ``reelmatch bench ndvr``).

Makes transformed copies of every video of a folder (the suite of
``reelmatch.dedupe.transforms``, written with PyAV), searches each copy among
all originals, and prints mAP and recall@1 per transformation for reelmatch's
copy descriptor and two baselines (mean-pooled pretrained features, per-frame
dHash sequences), measured side by side in one run; the mAP ratios are printed
last.

    .venv/bin/python benchmarks/ndvr.py ../shared/devdata --quick
    .venv/bin/python benchmarks/ndvr.py ../shared/devdata --json > ndvr.json
"""

from __future__ import annotations

import sys

from reelmatch.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bench", "ndvr", *sys.argv[1:]]))
