"""The feeds' part of the code location: per feed ``raw/<feed>`` -> ``normalised/<feed>`` (+ ``gx_<feed>``), and the landing sensor."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.feeds.assets import feed_assets
from orchestration.defs.feeds.sensors import landing_sensor

__all__ = ["feed_definitions"]


def feed_definitions() -> dg.Definitions:
    """Every feed's assets (group = feed slug, partitioned by delivered file) and ``landing_sensor``."""
    return dg.Definitions(assets=feed_assets(), sensors=[landing_sensor])
