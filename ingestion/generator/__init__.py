"""Sample-feed generator: a seeded, coherent county and every departmental feed, with ground truth."""

from .core import GenerateSummary, generate
from .corrupt import Corruption, corrupt_landing

__all__ = ["Corruption", "GenerateSummary", "corrupt_landing", "generate"]
