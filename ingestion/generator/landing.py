"""Landing-zone writing (files + flags) and the truth sinks that record what was written."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

# (flag carries md5, flag lines end in CRLF) per department
FLAG_POLICY: dict[str, tuple[bool, bool]] = {
    "grid_registry": (True, False),
    "police_population": (True, True),
    "police_incidents": (True, True),
    "civil_affairs": (False, True),
    "petitions": (True, False),
    "grid_events": (False, False),
    "hotline_orders": (True, True),
    # 网格通 exports the visits beside the events; the roster's administration flags with md5
    "grid_visits": (True, False),
    # the points system's monthly export: no md5, LF
    "credit_points": (False, False),
    # the community service mini-program: a flag with md5, LF
    "service_lists": (True, False),
}
FEEDS = tuple(FLAG_POLICY)

PERSON_RECORD_SCHEMA = pa.schema(
    [
        ("feed", pa.string()),
        ("file", pa.string()),
        ("sheet", pa.string()),
        ("record_no", pa.int64()),
        ("member_no", pa.int32()),
        ("person_id", pa.int64()),
        ("id_fault", pa.string()),
        ("name_fault", pa.string()),
    ]
)


def flag_text(rows: int, md5: str | None, crlf: bool) -> bytes:
    nl = "\r\n" if crlf else "\n"
    text = f"rows={rows}{nl}" + (f"md5={md5}{nl}" if md5 else "")
    return text.encode("utf-8")


def csv_bytes(df: pl.DataFrame, *, encoding: str = "utf-8", bom: bool = False, crlf: bool = False) -> bytes:
    """RFC 4180 CSV (fields with commas, quotes or line breaks quoted) in the requested encoding.

    A text column built from an empty numpy object array arrives as Polars' Object dtype, which the CSV
    writer refuses (a small district can have a feed with no records at all): such columns become text.
    """
    obj = [c for c, t in df.schema.items() if t == pl.Object]
    if obj:
        df = df.with_columns(
            pl.Series(c, [None if v is None else str(v) for v in df[c].to_list()], dtype=pl.Utf8) for c in obj
        )
    text = df.write_csv(None, line_terminator="\r\n" if crlf else "\n", quote_style="necessary")
    data = text.encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


@dataclass
class Delivered:
    feed: str
    folder: str
    file: str
    rows: int
    size: int


@dataclass
class Landing:
    root: Path
    delivered: list[Delivered] = field(default_factory=list)
    #: called after each file and its flag are written (progress display); never changes what is written
    on_deliver: Callable[[Delivered], None] | None = None

    def deliver(self, feed: str, folder: dt.date, name: str, data: bytes, rows: int) -> Path:
        md5_on, crlf = FLAG_POLICY[feed]
        d = self.root / feed / folder.isoformat()
        d.mkdir(parents=True, exist_ok=True)
        path = d / name
        path.write_bytes(data)
        (d / f"{name}.ok").write_bytes(flag_text(rows, hashlib.md5(data).hexdigest() if md5_on else None, crlf))
        self.delivered.append(Delivered(feed, folder.isoformat(), name, rows, len(data)))
        if self.on_deliver is not None:
            self.on_deliver(self.delivered[-1])
        return path


class RecordSink:
    """Streams person_records rows to parquet; keeps fault counters for the summary."""

    def __init__(self, path: Path) -> None:
        self._writer = pq.ParquetWriter(path, PERSON_RECORD_SCHEMA, compression="zstd")
        self.id_faults: Counter[tuple[str, str]] = Counter()
        self.name_faults: Counter[tuple[str, str]] = Counter()
        self.records: Counter[str] = Counter()
        self._buf: list[pa.Table] = []
        self._buffered = 0

    def add(self, feed: str, file: str, sheet: str, record_no, member_no, person_id, id_fault, name_fault) -> None:
        n = len(record_no)
        if n == 0:
            return
        pid = np.asarray(person_id, dtype=np.int64)
        df = pl.DataFrame(
            {
                "record_no": np.asarray(record_no, dtype=np.int64),
                "member_no": np.asarray(member_no, dtype=np.int32),
                "person_id": pid,
                "id_fault": pl.Series(np.asarray(id_fault, dtype=object), dtype=pl.Utf8),
                "name_fault": pl.Series(np.asarray(name_fault, dtype=object), dtype=pl.Utf8),
            }
        ).with_columns(
            person_id=pl.when(pl.col("person_id") > 0).then(pl.col("person_id")),
            feed=pl.lit(feed),
            file=pl.lit(file),
            sheet=pl.lit(sheet),
        )
        t = df.select(PERSON_RECORD_SCHEMA.names).to_arrow().cast(PERSON_RECORD_SCHEMA)
        self.records[feed] += n
        for k, c in df["id_fault"].value_counts().iter_rows():
            self.id_faults[(feed, k)] += c
        for k, c in df["name_fault"].value_counts().iter_rows():
            self.name_faults[(feed, k)] += c
        self._buf.append(t)
        self._buffered += n
        if self._buffered >= 500_000:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self._writer.write_table(pa.concat_tables(self._buf), row_group_size=1_000_000)
            self._buf, self._buffered = [], 0

    def close(self) -> None:
        self.flush()
        self._writer.close()


EVENT_SCHEMA = {
    "feed": pl.Utf8,
    "file": pl.Utf8,
    "record_no": pl.Int64,
    "event_key": pl.Utf8,
    "occurred_at": pl.Datetime("us"),
    "grid_code": pl.Utf8,
    "community_code": pl.Utf8,
    "street_code": pl.Utf8,
    "placement_hint": pl.Utf8,
}
FAULT_SCHEMA = {
    "feed": pl.Utf8,
    "folder": pl.Utf8,
    "file": pl.Utf8,
    "kind": pl.Utf8,
    "record_no": pl.Int64,
    "detail": pl.Utf8,
}


@dataclass
class Truth:
    dir: Path
    records: RecordSink
    events: list[pl.DataFrame] = field(default_factory=list)
    faults: list[dict] = field(default_factory=list)

    def fault(
        self, feed: str, folder: dt.date | str, file: str, kind: str, record_no: int | None = None, detail: str = ""
    ) -> None:
        self.faults.append(
            dict(feed=feed, folder=str(folder), file=file, kind=kind, record_no=record_no, detail=detail)
        )

    def event_rows(
        self,
        feed: str,
        file: str,
        record_no,
        event_key,
        occurred_at,
        grid_code,
        community_code,
        street_code,
        placement_hint,
    ) -> None:
        self.events.append(
            pl.DataFrame(
                {
                    "feed": [feed] * len(record_no),
                    "file": [file] * len(record_no),
                    "record_no": record_no,
                    "event_key": event_key,
                    "occurred_at": occurred_at,
                    "grid_code": grid_code,
                    "community_code": community_code,
                    "street_code": street_code,
                    "placement_hint": placement_hint,
                },
                schema=EVENT_SCHEMA,
            )
        )

    def close(self) -> None:
        self.records.close()
        ev = pl.concat(self.events) if self.events else pl.DataFrame(schema=EVENT_SCHEMA)
        ev.write_parquet(self.dir / "events.parquet")
        pl.DataFrame(self.faults, schema=FAULT_SCHEMA).sort(
            "feed", "folder", "file", "kind", "record_no"
        ).write_parquet(self.dir / "faults.parquet")


def to_buffer(write) -> bytes:
    buf = io.BytesIO()
    write(buf)
    return buf.getvalue()
