"""Metadata in the Dagster UI is labelled in words; shares are shown as percentages."""

from __future__ import annotations

import re

from ingestion.ledger import FileOutcome
from orchestration.defs.feeds.assets import normalised_metadata, raw_metadata
from orchestration.lib.labels import LABELS, field_of, readable


def test_shares_become_percentages_under_words():
    assert readable({"grid_placed_share": 0.1329, "id_valid_share": 1.0, "files_held": 2}) == {
        "placed in a grid (share, %)": 13.29,
        "valid ID number (share, %)": 100.0,
        "files held by the quality gate": 2,
    }
    assert field_of("files failed (held)") == "files_failed" and field_of("anything else") == "anything else"


def test_every_feed_metadata_field_has_a_label():
    outcome = FileOutcome(
        feed="police_incidents",
        table_name="police_incidents",
        folder="2024-11-03",
        file="JQ.csv",
        status="loaded",
        file_md5="0" * 32,
        records_read=10,
        rows_normalised=9,
        rows_quarantined=1,
        rows_skipped=0,
        is_balanced=True,
        id_valid_share=0.9,
        placed_share=0.5,
        quarantine_reasons={"bad_id": 1},
    )
    rejected = FileOutcome(
        feed="police_incidents",
        table_name=None,
        folder="2024-11-03",
        file="x.csv",
        status="rejected",
        reason="unknown_file",
        message="x.csv: no feed",
    )
    fields = set(normalised_metadata([outcome], {"2024-11-04/JQ.csv": "held"})) | set(
        raw_metadata([], [rejected], ["gone"])
    )
    assert fields - set(LABELS) == set()
    labels = readable({f: 0 for f in fields})
    assert not [k for k in labels if re.fullmatch(r"[a-z]+(_[a-z]+)+", k)], labels
