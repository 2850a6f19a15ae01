"""In-house recommender: time-aware, user-weighted EASE with coverage re-weighting, MiniLM content for cold
start, popularity as the last fallback. See ``model.Recommender``."""

from .content import ContentIndex, HashingEncoder
from .data import Interactions, read_interactions, split_per_user
from .model import Recommendation, Recommender, RecommenderConfig
from .synthetic import SyntheticData, make_synthetic

__all__ = [
    "ContentIndex",
    "HashingEncoder",
    "Interactions",
    "Recommendation",
    "Recommender",
    "RecommenderConfig",
    "SyntheticData",
    "make_synthetic",
    "read_interactions",
    "split_per_user",
]
