"""The two-tower model: frame backbone + temporal pooling, audio ConvNet, fused L2 embedding."""

from reelmatch.model.config import ModelConfig

__all__ = ["ModelConfig", "TwoTower", "create_backbone", "list_backbones"]


def __getattr__(name):  # lazy: torch loads only when the model itself is used (a config stays light)
    if name in ("create_backbone", "list_backbones"):
        from reelmatch.model import backbones

        return getattr(backbones, name)
    if name == "TwoTower":
        from reelmatch.model.two_tower import TwoTower

        return TwoTower
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
