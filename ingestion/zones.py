"""Where each zone lives under the state folder (``home``).

```
home/
  state/secret.key                      HMAC key for person pseudonyms (0600)
  raw/<table>/<md5>.parquet             every cell as text + locator
  normalised/<table>/<md5>.parquet      typed rows (ingestion.schemas.SCHEMAS)
  restricted/person_records/<md5>.parquet   normalised identifiers, linkage only
  quarantine/<table>/<md5>.parquet      rows that could not be normalised, with reasons
  ledger/<key>.parquet                  one ledger row per file outcome
  warehouse.duckdb                      the dbt warehouse (one writer)
  serving/                              read-only snapshot + Parquet exports
  docs/validations/                     GX results as HTML
```

Everything is keyed by the file's md5, so the same bytes delivered twice
write the same paths and change nothing.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Zones", "write_text_atomic"]


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader (or a killed run) sees the old file or the new one, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Zones:
    home: Path

    @property
    def state(self) -> Path:
        return self.home / "state"

    @property
    def secret_file(self) -> Path:
        return self.state / "secret.key"

    def raw(self, table: str, md5: str | None = None) -> Path:
        return _leaf(self.home / "raw" / table, md5)

    def normalised(self, table: str, md5: str | None = None) -> Path:
        return _leaf(self.home / "normalised" / table, md5)

    def person_records(self, md5: str | None = None) -> Path:
        return _leaf(self.home / "restricted" / "person_records", md5)

    def quarantine(self, table: str, md5: str | None = None) -> Path:
        return _leaf(self.home / "quarantine" / table, md5)

    @property
    def ledger(self) -> Path:
        return self.home / "ledger"

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def serving(self) -> Path:
        return self.home / "serving"

    @property
    def validations(self) -> Path:
        return self.home / "docs" / "validations"


def _leaf(folder: Path, md5: str | None) -> Path:
    return folder if md5 is None else folder / f"{md5}.parquet"
