"""The normalised zone's contract: one Polars schema per normalised table.

Normalisers cast their output to these schemas (:func:`conform`), the GX
suites check them, and the dbt sources read them. Every table starts with the
record locator and ``data_date`` (the day the records belong to: the date in
a daily file's name, the snapshot date, the first day of a roll's month).

Identifiers (ID numbers, names, phones) never appear here: the main tables
carry the keyed pseudonym ``person_key`` and masked display forms. The
normalised identifiers that linkage needs live only in the restricted
``person_records`` table.
"""

from __future__ import annotations

import polars as pl

__all__ = ["SCHEMAS", "QUARANTINE", "PERSON_RECORDS", "LEDGER", "conform", "TZ"]

TZ = "Asia/Shanghai"
_TS = pl.Datetime("us", TZ)
S, D, B, I, F = pl.String, pl.Date, pl.Boolean, pl.Int64, pl.Float64

_LOCATOR = {
    "feed": S,
    "file": S,
    "file_md5": S,
    "sheet": S,
    "record_no": I,
    "member_no": pl.Int32,
    "data_date": D,
}

#: Where a record was placed (ingestion.placement): shared by every placed table.
_PLACEMENT = {
    "address_canonical": S,
    "address_code": S,
    "grid_code": S,
    "community_code": S,
    "street_code": S,
    "placement_method": S,
}
_COORDS = {"lon": F, "lat": F, "coordinate_status": S}

#: Person fields carried by main tables: pseudonym, validity class, masked display forms.
_PERSON = {
    "person_key": S,
    "id_status": S,
    "id_masked": S,
    "name_masked": S,
    "name_status": S,
    "phone_masked": S,
    "phone_kind": S,
    "sex": S,
    "birth_date": D,
}

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "grid_units": {
        **_LOCATOR,
        "grid_code": S,
        "grid_name": S,
        "grid_type": S,
        "community_code": S,
        "community_name": S,
        "street_code": S,
        "street_name": S,
        "county_code": S,
        "county_name": S,
        "grid_worker_name_masked": S,
        "grid_worker_phone_masked": S,
        "households": I,
        "resident_population": I,
        "valid_from": D,
        "valid_to": D,
        "merged_into": S,
    },
    "address_points": {
        **_LOCATOR,
        "address_code": S,
        "standard_address": S,
        "address_canonical": S,
        "road": S,
        "house_number": S,
        "building": S,
        "grid_code": S,
        "lon": F,
        "lat": F,
    },
    "grid_boundaries": {**_LOCATOR, "grid_code": S, "geometry": S},
    "police_population": {
        **_LOCATOR,
        "source_person_id": S,
        "doc_type": S,
        **_PERSON,
        "ethnicity": S,
        "population_type": S,
        "person_status": S,
        "status_changed_date": D,
        "registered_date": D,
        "police_station": S,
        # the 户口簿 household, from the snapshots that carry it (null before): keyed and masked, never the 户号
        "household_key": S,
        "household_no_masked": S,
        "household_no_status": S,  # valid | malformed | empty
        "relation_to_head": S,
        "is_relation_known": B,
        **_PLACEMENT,
    },
    "police_incidents": {
        **_LOCATOR,
        "incident_id": S,
        "received_at": _TS,
        "report_channel": S,
        **_PERSON,
        "is_anonymous": B,
        "category": S,
        "subcategory": S,
        "narrative_chars": I,
        "police_station": S,
        "outcome": S,
        "feedback_at": _TS,
        **_COORDS,
        **_PLACEMENT,
    },
    "civil_affairs": {
        **_LOCATOR,
        "programme": S,
        **_PERSON,
        "is_id_damaged": B,
        "age": I,
        "relation_to_head": S,
        "benefit_type": S,
        "household_size": I,
        "monthly_amount": F,
        "start_date": D,
        "support_mode": S,
        "subsidy_type": S,
        "disability_category": S,
        "disability_grade": S,
        "elderly_type": S,
        "last_visit_date": D,
        "community_name": S,
        "street_name": S,
        **_PLACEMENT,
    },
    "petitions": {
        **_LOCATOR,
        "case_id": S,
        "registered_at": _TS,
        "channel": S,
        "petitioner_count": I,
        "petitioners_listed": I,
        "is_collective": B,
        "category": S,
        "category_l1": S,
        "category_l2": S,
        "responsible_unit": S,
        "due_date": D,
        "is_extended": B,
        "status": S,
        "accepted_at": _TS,
        "last_moved_at": _TS,
        "closed_at": _TS,
        "satisfaction": S,
        "clerk_repeat_flag": B,
        "problem_street": S,
        "problem_community": S,
        **_PLACEMENT,
    },
    "grid_events": {
        **_LOCATOR,
        "event_id": S,
        "reported_at": _TS,
        "grid_code_reported": S,
        "category": S,
        "subcategory": S,
        "handling_level": S,
        "status": S,
        "dispatched_to": S,
        "status_at": _TS,
        "resolved_at": _TS,
        "satisfaction": S,
        "people_count": I,
        **_COORDS,
        **_PLACEMENT,
    },
    "hotline_orders": {
        **_LOCATOR,
        "order_id": S,
        "called_at": _TS,
        "channel": S,
        **_PERSON,
        "is_anonymous": B,
        "request_type": S,
        "category": S,
        "category_l1": S,
        "category_l2": S,
        "urgency": S,
        "is_urgency_defaulted": B,
        "content_chars": I,
        "street_name": S,
        "community_name": S,
        "holder_unit": S,
        "dispatched_at": _TS,
        "signed_at": _TS,
        "due_at": _TS,
        "is_due_printed": B,
        "status": S,
        "closed_at": _TS,
        "followed_up_at": _TS,
        "followup_result": S,
        "satisfaction": S,
        "is_reopened": B,
        "updated_at": _TS,
        "source_format": S,  # gd | open311
        **_COORDS,
        **_PLACEMENT,
    },
    "hotline_steps": {
        **_LOCATOR,
        "order_id": S,
        "step_no": I,
        "step": S,
        "step_at": _TS,
        "unit": S,
        "staff_name_masked": S,
        "note_chars": I,
        "extended_to": _TS,  # a 延期批准 note's new deadline (延期至2024-11-20 18:00)
    },
    # grid_visits.md: the visit log (the visited resident is a person record) ...
    "grid_visits": {
        **_LOCATOR,
        "visit_id": S,
        "visited_at": _TS,
        "worker_id": S,
        "grid_code_reported": S,
        "subject_type": S,
        **_PERSON,
        "visit_mode": S,
        "theme": S,
        "has_problem": B,
        "event_id": S,
        "community_household_key": S,  # 户编号, keyed like 户号 (the community's own household number)
        **_COORDS,
        **_PLACEMENT,
    },
    # ... and the workers' roster: staff, protected (masked only) but not person records
    "grid_workers": {
        **_LOCATOR,
        "worker_id": S,
        "worker_name_masked": S,
        "worker_id_masked": S,
        "worker_phone_masked": S,
        "post": S,
        "grid_code": S,
        "micro_grid": S,
        "pay_step": I,
        "hired_date": D,
        "left_date": D,
        "moved_date": D,
        "last_year_grade": S,
        "roster_month": D,
    },
}

# credit_points.md: the points workbook's three sheets as one table (``record_kind`` says which); the
# household head and the member are two person records of an entry (member_no 1 and 2)
SCHEMAS["credit_points"] = {
    **_LOCATOR,
    "record_kind": S,  # item | entry | redemption
    # 积分项目
    "item_code": S,
    "item_name": S,
    "item_category": S,
    "points": I,  # an item's 分值, an entry's 分值 as entered
    "scored_on": S,  # 个人 | 家庭
    "monthly_limit": I,
    "valid_from_month": D,  # first day of 启用月份
    "valid_to_month": D,  # first day of 停用月份 (exclusive)
    # 积分明细
    "entry_id": S,
    "occurred_date": D,
    "community_household_key": S,  # 户编号, keyed like grid_visits' (the community's own household number)
    "household_community_code": S,  # the 12-digit community code inside 户编号
    "head_person_key": S,
    "head_id_status": S,
    "head_id_masked": S,
    "head_name_masked": S,
    "member_person_key": S,
    "member_id_status": S,
    "member_id_masked": S,
    "member_name_masked": S,
    "reason_chars": I,
    "has_proof": B,
    "reviewer_name_masked": S,
    "review_status": S,
    "reviewed_at": _TS,
    # 兑换记录
    "redemption_id": S,
    "redeemed_date": D,
    "goods": S,
    "points_used": I,
    "redemption_point": S,
}

# service_lists.md: 三张清单 in one table, the sheet telling the list (``list_kind``): a need's resident and a
# person resource (在职党员 / 志愿者) are person records; a unit keeps its name and 统一社会信用代码 (not personal)
SCHEMAS["service_lists"] = {
    **_LOCATOR,
    "list_kind": S,  # need | resource | project
    "record_id": S,  # the row's key: 需求编号, 资源编号 or 项目编号
    "status": S,
    "status_at": _TS,
    "category": S,
    # needs
    "need_id": S,
    "posted_at": _TS,
    "channel": S,
    "grid_code_reported": S,
    "description_chars": I,
    "is_wish": B,
    "taken_by_resource_id": S,
    "dispatched_at": _TS,
    "accepted_at": _TS,
    "closed_at": _TS,
    "satisfaction": S,
    "in_project_id": S,
    **_PERSON,
    **_PLACEMENT,
    # resources
    "resource_id": S,
    "resource_type": S,
    "is_person_resource": B,
    "unit_name": S,  # a unit's name (a person resource's name is masked in name_masked)
    "unit_credit_code": S,
    "credit_code_status": S,  # valid | bad_check | wrong_form | empty (units only)
    "employer": S,
    "service_categories": S,  # 需求类别 joined by 、
    "service_scope": S,  # community codes joined by ; or 全区
    "registered_date": D,
    # projects
    "project_id": S,
    "project_name": S,
    "lead_resource_id": S,
    "need_ids": S,
    "resource_ids": S,
    "started_date": D,
    "planned_date": D,
    "completed_date": D,
    "beneficiaries": I,
    "funds": F,
}


#: Restricted: one row per personal record in any feed (who counts as a person:
#: ../shared/feeds/README.md). The only table holding normalised identifiers.
PERSON_RECORDS: dict[str, pl.DataType] = {
    **_LOCATOR,
    "role": S,  # resident | caller | beneficiary | petitioner | involved
    "source_key": S,  # the record's key in its feed (人员编号, 警情编号, 信访件编号, 事件编号, programme)
    "record_at": _TS,  # when the record says this about the person
    "person_key": S,
    "id_raw": S,
    "id_number": S,
    "id_status": S,
    "doc_type": S,
    "name_raw": S,
    "name": S,
    "name_status": S,
    "sex": S,
    "birth_date": D,
    "phone": S,  # the first number of the field
    "phones": pl.List(S),  # every number the field holds (a caller may give a mobile and a landline)
    "phone_kind": S,
    "address_raw": S,
    "address_canonical": S,
    "address_code": S,
    "grid_code": S,
    "community_code": S,
    "street_code": S,
    "placement_method": S,
}

QUARANTINE: dict[str, pl.DataType] = {
    "feed": S,
    "file": S,
    "file_md5": S,
    "sheet": S,
    "record_no": I,
    "member_no": pl.Int32,
    "raw_text": S,
    "reason": S,
    "message": S,
}

#: One row per landed file per outcome: the conservation ledger.
LEDGER: dict[str, pl.DataType] = {
    "feed": S,
    "table_name": S,
    "folder": S,
    "file": S,
    "file_md5": S,
    "size_bytes": I,
    "status": S,  # loaded | duplicate | rejected | waiting | refused
    "reason": S,
    "message": S,
    "duplicate_of": S,
    "flag_rows": I,
    "records_read": I,
    "rows_normalised": I,
    "rows_quarantined": I,
    "rows_skipped": I,
    "skipped_by_kind": S,  # JSON object kind -> count
    "rows_person_flagged": I,  # of rows_normalised: records naming a person with no ID or no name (kept, flagged)
    "is_balanced": B,
    "encoding": S,
    "is_encoding_switched": B,
    "unknown_columns": S,  # JSON list
    "missing_optional": S,  # JSON list
    "id_valid_share": F,
    "placed_share": F,
    "seconds": F,
    "processed_at": _TS,
    # a versioned register snapshot (ingestion.versions): unchanged + changed + new = rows_normalised
    "rows_unchanged": I,
    "rows_changed": I,
    "rows_new": I,
    "rows_gone": I,
}


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select and cast ``frame`` to ``schema``; absent columns become typed nulls."""
    return frame.select(
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in schema.items()
    )


# The register's versions store (ingestion/versions.py): full-snapshot tables kept as versions, each with the
# column that keys a version; a version is the table's row with its content hash and validity, and each
# snapshot's key index names who it listed.
VERSIONED: dict[str, str] = {"police_population": "source_person_id"}

#: Where a row was read from and when: not part of a version's content.
VERSION_LOCATOR = ("feed", "file", "file_md5", "sheet", "record_no", "member_no", "data_date")
_VALIDITY = {"content_hash": pl.UInt64, "valid_from": pl.Date, "valid_to": pl.Date}


def version_schema(table: str) -> dict[str, pl.DataType]:
    return {**SCHEMAS[table], **_VALIDITY}


def key_index_schema(table: str) -> dict[str, pl.DataType]:
    schema = SCHEMAS[table]
    return {VERSIONED[table]: schema[VERSIONED[table]], "content_hash": pl.UInt64} | {
        c: schema[c] for c in VERSION_LOCATOR if c != "feed"
    }
