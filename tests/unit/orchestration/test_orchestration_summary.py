"""`zhili run`'s closing summary: what a data officer reads after a year's backlog is loaded."""

from __future__ import annotations

import json

from orchestration.summary import summarise_outcomes


def _outcome(feed: str, day: int, **over) -> dict:
    o = {
        "feed": feed,
        "folder": f"2025-01-{day:02d}",
        "file": f"F_202501{day:02d}.jsonl",
        "status": "loaded",
        "records_read": 10,
        "rows_normalised": 9,
        "rows_quarantined": 1,
        "rows_skipped": 0,
        "is_balanced": True,
        "is_encoding_switched": False,
        "encoding": "utf-8",
        "unknown_columns": None,
        "message": None,
    }
    return o | over


def test_repeated_drift_is_one_line_per_feed_naming_the_first_files():
    outcomes = [_outcome("petitions", d, unknown_columns=json.dumps(["kzzd"])) for d in range(9, 0, -1)]
    outcomes += [
        _outcome("police_incidents", 3, is_encoding_switched=True, encoding="utf-8-sig"),
        _outcome("grid_events", 4, status="rejected", message="grid_events/2025-01-04/F_20250104.jsonl: truncated"),
    ]
    lines: list[str] = []
    summarise_outcomes(outcomes, lines.append)
    assert lines[0] == "files: 10 loaded, 1 rejected"
    assert (
        "  petitions             9 files         90 records =        81 normalised +      9 quarantined  (0 footer/empty rows skipped)"
        in lines
    )
    assert "  rejected: grid_events/2025-01-04/F_20250104.jsonl: truncated" in lines
    drift = [line for line in lines if "new columns" in line]
    assert drift == [
        "  new columns: kzzd in 9 files: petitions/2025-01-01/F_20250101.jsonl, petitions/2025-01-02/F_20250102.jsonl,"
        " petitions/2025-01-03/F_20250103.jsonl and 6 more"
    ]
    assert (
        "  encoding differs from the feed's declared one: read as utf-8-sig in 1 file: "
        "police_incidents/2025-01-03/F_20250103.jsonl"
    ) in lines
