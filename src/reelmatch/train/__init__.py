"""Training: phases (warm-up classification, semi-hard triplets, progressive unfreezing), feature cache."""

from reelmatch.train.config import DEFAULT_PHASES, Phase, TrainConfig
from reelmatch.train.features import FeatureCache, FeaturesConfig, compute_features
from reelmatch.train.run import run_train

__all__ = ["DEFAULT_PHASES", "FeatureCache", "FeaturesConfig", "Phase", "TrainConfig", "compute_features", "run_train"]
