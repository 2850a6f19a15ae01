"""Privacy: PII detection and reversible pseudonymisation."""

from hybridgate.privacy.entity import Entity
from hybridgate.privacy.pii import ALL_LABELS, DIRECT_LABELS, PIIDetector
from hybridgate.privacy.pseudonym import Pseudonymiser, StreamRestorer

__all__ = ["ALL_LABELS", "DIRECT_LABELS", "Entity", "PIIDetector", "Pseudonymiser", "StreamRestorer"]
