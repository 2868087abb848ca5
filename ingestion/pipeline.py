"""From landing files to the raw and normalised zones, with the conservation ledger: the public names.

The way is split by concern, one module each; this module re-exports their
public names for code that imports them from here:

* :mod:`ingestion.planner`: which files are due (one planner for every front door), ``ingest_landing``;
* :mod:`ingestion.staging`: verify and read a file into the raw zone (``stage_raw``, ``load_staged``);
* :mod:`ingestion.normalising`: normalise it, then commit it with its gate's verdict;
* :mod:`ingestion.ledger`: the ledger row of every file outcome, the commit marker;
* :mod:`ingestion.grid_index`: the grid index the other feeds are placed with, and its address prefixes;
* :mod:`ingestion.fingerprint`: what a register snapshot's reuse of earlier rows is keyed by;
* :mod:`ingestion.zones`: where everything lives under a home, ``ensure_zones``, the atomic writers.

Every output is keyed by the file's md5 and written atomically, so rerunning
changes nothing and a reader never sees half a file.
"""

from __future__ import annotations

from ingestion.feeds import FEED_ORDER as ORDER
from ingestion.fingerprint import normaliser_fingerprint
from ingestion.grid_index import address_prefixes, load_grid_index
from ingestion.ledger import FileOutcome, loaded_files, read_ledger, scan_outcomes, write_ledger
from ingestion.normalising import Gate, GateVerdict, ingest_file, normalise_staged
from ingestion.planner import ingest_landing
from ingestion.staging import Staged, data_date_of, load_staged, stage_raw
from ingestion.zones import ensure_zones

__all__ = [
    "FileOutcome",
    "ingest_landing",
    "ingest_file",
    "load_grid_index",
    "address_prefixes",
    "stage_raw",
    "normalise_staged",
    "Staged",
    "load_staged",
    "Gate",
    "GateVerdict",
    "scan_outcomes",
    "write_ledger",
    "ensure_zones",
    "read_ledger",
    "loaded_files",
    "data_date_of",
    "normaliser_fingerprint",
    "ORDER",
]
