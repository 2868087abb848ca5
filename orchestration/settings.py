"""The one settings object: flags, then ``ZHILI_*`` environment variables, then defaults.

Nothing reads the environment at import time; :meth:`Settings.resolve` does,
when a command or the Dagster code location asks for it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ingestion.zones import Zones

__all__ = ["Settings", "SettingsError"]


class SettingsError(ValueError):
    """A setting the user must fix (a bad date, a missing key file): one sentence, no traceback."""


_DEFAULT_HOME = Path(".zhili")
#: DuckDB's memory limit for the warehouse build and the publish. Beyond it DuckDB spills to disk beside the
#: file (``<home>/warehouse.duckdb.tmp/``) instead of taking 80 % of the machine's RAM, its own default: at 1M
#: residents the build would otherwise hold 22 GB. Linkage and ingestion are Polars and stay under ~8 GB there.
DEFAULT_DUCKDB_MEMORY = "5GB"
#: what builds the warehouse after ingestion (``ZHILI_ENGINE``, ``zhili run --engine``): DuckDB on this machine, or
#: Spark (docs/spark.md: linkage with the kept model and dbt's ``spark`` target, the marts exported to the same
#: serving catalogue)
ENGINES = ("duckdb", "spark")
_MEMORY_RE = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


@dataclass(frozen=True)
class Settings:
    landing: Path
    home: Path
    secret_file: Path
    #: the date overdue/age/active are computed on; None = the latest delivery loaded
    as_of: date | None = None
    #: DuckDB ``memory_limit`` for dbt and publish, e.g. ``5GB`` (``ZHILI_DUCKDB_MEMORY``)
    duckdb_memory: str = DEFAULT_DUCKDB_MEMORY
    #: one of ENGINES
    engine: str = "duckdb"

    @classmethod
    def resolve(
        cls,
        *,
        landing: str | os.PathLike | None = None,
        home: str | os.PathLike | None = None,
        secret_file: str | os.PathLike | None = None,
        as_of: str | date | None = None,
        engine: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Settings:
        env = os.environ if env is None else env
        home_path = Path(home or env.get("ZHILI_HOME") or _DEFAULT_HOME)
        landing_path = Path(landing or env.get("ZHILI_LANDING") or home_path / "landing")
        secret = Path(secret_file or env.get("ZHILI_SECRET_FILE") or Zones(home_path).secret_file)
        as_of = as_of or env.get("ZHILI_AS_OF_DATE") or None
        if isinstance(as_of, str):
            try:
                as_of = date.fromisoformat(as_of)
            except ValueError:
                raise SettingsError(
                    f"as-of date {as_of!r} should be YYYY-MM-DD (flag --as-of or ZHILI_AS_OF_DATE)"
                ) from None
        memory = (env.get("ZHILI_DUCKDB_MEMORY") or DEFAULT_DUCKDB_MEMORY).strip()
        if not _MEMORY_RE.match(memory):
            raise SettingsError(f"ZHILI_DUCKDB_MEMORY={memory!r} should be a size such as 5GB or 800MB")
        engine = (engine or env.get("ZHILI_ENGINE") or "duckdb").strip().lower()
        if engine not in ENGINES:
            raise SettingsError(
                f"engine {engine!r} should be one of {', '.join(ENGINES)} (flag --engine or ZHILI_ENGINE)"
            )
        return cls(
            landing=landing_path.absolute(),
            home=home_path.absolute(),
            secret_file=secret.absolute(),
            as_of=as_of,
            duckdb_memory=memory,
            engine=engine,
        )

    @property
    def zones(self) -> Zones:
        return Zones(self.home)

    def as_of_date(self) -> date | None:
        """The warehouse's "as of": the setting, else the latest delivery date loaded.

        Generated or late-loaded history is judged at its own time, not against
        today's calendar: a case open on the last delivered day is open, not years overdue.
        """
        if self.as_of is not None:
            return self.as_of
        from ingestion.ledger import LOADED, read_ledger

        ledger = read_ledger(self.zones)
        folders = ledger.filter(ledger["status"].is_in(LOADED))["folder"].to_list()
        dates = sorted(d for d in (_as_date(f) for f in folders) if d)
        return dates[-1] if dates else None

    def holds_pseudonymised_data(self) -> bool:
        """Whether person keys were already written under ``home`` (so its key must not change)."""
        zones = self.zones
        folders = [*zones.normalised().glob("*"), zones.person_records()]
        for folder in folders:
            if any(not p.name.startswith(("_", ".")) for p in folder.glob("*.parquet")):
                return True
        return zones.warehouse.exists()

    def key(self) -> bytes:
        """The pseudonym key; created (0600) only for a state folder that holds no person keys yet.

        A new key would give every person a new ``person_key``, silently splitting each 一人一档 file
        in two, so a missing key file next to pseudonymised data is an error, not a fresh start.
        """
        from ingestion.pseudonym import load_or_create_key

        if not self.secret_file.exists() and self.holds_pseudonymised_data():
            raise SettingsError(
                f"the pseudonym key {self.secret_file} does not exist, but {self.home} already holds data "
                "pseudonymised with a key; restore the key file or point ZHILI_SECRET_FILE at it "
                "(a new key would change every person_key)"
            )
        return load_or_create_key(self.secret_file)


def _as_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        return None
