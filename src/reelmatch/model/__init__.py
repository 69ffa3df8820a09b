"""The two-tower model: frame backbone + temporal pooling, audio ConvNet, fused L2 embedding."""

from reelmatch.model.backbones import create_backbone, list_backbones

__all__ = ["create_backbone", "list_backbones"]
