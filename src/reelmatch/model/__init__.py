"""The two-tower model: frame backbone + temporal pooling, audio ConvNet, fused L2 embedding."""

from reelmatch.model.backbones import create_backbone, list_backbones
from reelmatch.model.config import ModelConfig
from reelmatch.model.two_tower import TwoTower

__all__ = ["ModelConfig", "TwoTower", "create_backbone", "list_backbones"]
