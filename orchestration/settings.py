"""The one settings object: flags, then ``ZHILI_*`` environment variables, then defaults.

Nothing reads the environment at import time; :meth:`Settings.resolve` does,
when a command or the Dagster code location asks for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ingestion.zones import Zones

__all__ = ["Settings"]

_DEFAULT_HOME = Path(".zhili")


@dataclass(frozen=True)
class Settings:
    landing: Path
    home: Path
    secret_file: Path

    @classmethod
    def resolve(
        cls,
        *,
        landing: str | os.PathLike | None = None,
        home: str | os.PathLike | None = None,
        secret_file: str | os.PathLike | None = None,
        env: Mapping[str, str] | None = None,
    ) -> "Settings":
        env = os.environ if env is None else env
        home_path = Path(home or env.get("ZHILI_HOME") or _DEFAULT_HOME)
        landing_path = Path(landing or env.get("ZHILI_LANDING") or home_path / "landing")
        secret = Path(secret_file or env.get("ZHILI_SECRET_FILE") or Zones(home_path).secret_file)
        return cls(landing=landing_path.absolute(), home=home_path.absolute(), secret_file=secret.absolute())

    @property
    def zones(self) -> Zones:
        return Zones(self.home)

    def key(self) -> bytes:
        from ingestion.pseudonym import load_or_create_key

        return load_or_create_key(self.secret_file)
