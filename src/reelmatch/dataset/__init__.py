"""Clip records and their stores (read side of the pipeline)."""
