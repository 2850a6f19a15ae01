"""Recommendations feature: event and catalogue storage, in-house recommender serving, optional partner
rerank under data control. See ``feature.RecommendationsFeature``."""

from .feature import RecommendationsFeature
from .options import Options, RerankOptions

__all__ = ["Options", "RecommendationsFeature", "RerankOptions"]
