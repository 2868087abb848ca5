"""The Dagster resource that hands assets the one settings object.

Settings are resolved when an asset or sensor runs, never at import time:
``landing``/``home`` left empty fall back to ``ZHILI_*`` and then defaults.
"""

from __future__ import annotations

import dagster as dg

from orchestration.settings import Settings

__all__ = ["ZhiliResource"]


class ZhiliResource(dg.ConfigurableResource):
    """Where the landing and the state folder are and what builds the warehouse (empty = ``ZHILI_*``, then
    defaults)."""

    landing: str = ""
    home: str = ""
    as_of: str = ""
    #: ``duckdb`` or ``spark`` (empty = ``ZHILI_ENGINE``, then DuckDB)
    engine: str = ""

    def settings(self) -> Settings:
        return Settings.resolve(
            landing=self.landing or None,
            home=self.home or None,
            as_of=self.as_of or None,
            engine=self.engine or None,
        )
