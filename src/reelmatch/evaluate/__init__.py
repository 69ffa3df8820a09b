"""Evaluation: retrieval metrics with genre-overlap relevance (``reelmatch.evaluate.metrics``),
embedding baselines, plots and the HTML report. Light to import: submodules load their
own heavy dependencies."""
