"""The feed registry: one entry per departmental feed, as ../shared/feeds/ specifies.

One slug per feed, used unchanged everywhere (landing folder, normaliser,
dbt source, Dagster group, GX suite). A feed delivers one or more *tables*:
``grid_registry`` delivers three files (grid units, address points, boundaries),
every other feed one. ``civil_affairs`` is one workbook whose sheets share a
table (the sheet becomes the ``programme`` column).

Headers are matched after :func:`normalise_header`, so the registry stores the
bare header (``月保障金``) and accepts ``月保障金(元)``, ``月保障金（元）`` and
`` 月保障金 `` alike.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

__all__ = [
    "Column",
    "TableSpec",
    "FeedSpec",
    "FEEDS",
    "FEED_ORDER",
    "GRID_FEED",
    "LOCATOR",
    "PROGRAMMES",
    "SERVICE_KEYS",
    "feed",
    "table_for_file",
    "normalise_header",
]

#: The record locator every kept row carries, in this order (../shared/feeds/README.md).
LOCATOR: tuple[str, ...] = ("feed", "file", "file_md5", "sheet", "record_no", "member_no")


@dataclass(frozen=True)
class Column:
    header: str
    name: str
    required: bool = False
    #: a column the department added to its export at some point (police_population.md: 户号 "a column the
    #: register added mid-year"): files from before lack it as a matter of course, so its absence is schema
    #: history, not drift, and is not reported as a missing optional column file after file
    added_later: bool = False


@dataclass(frozen=True)
class TableSpec:
    feed: str
    table: str
    pattern: re.Pattern[str]
    format: str  # csv | xlsx | jsonl | json (an array of objects) | geojson
    encoding: str | None  # declared encoding: gb18030 | utf-8 | utf-8-sig; None for xlsx
    columns: tuple[Column, ...] = ()
    #: for workbooks: sheet name -> the columns of that sheet
    sheets: dict[str, tuple[Column, ...]] = field(default_factory=dict)
    #: the required values a row cannot stand without (snake_case names): the record's key and the
    #: time that dates it, and what a feed page names explicitly. "Required" is about columns
    #: (feeds README): an empty value in any other required column keeps the row, the value null.
    stands_on: tuple[str, ...] = ()

    def columns_for(self, sheet: str | None = None) -> tuple[Column, ...]:
        if self.sheets:
            if sheet is None or sheet not in self.sheets:
                raise KeyError(f"{self.table}: unknown sheet {sheet!r}; expected one of {sorted(self.sheets)}")
            return self.sheets[sheet]
        return self.columns

    def required(self, sheet: str | None = None) -> list[str]:
        return [c.header for c in self.columns_for(sheet) if c.required]

    def optional_expected(self, sheet: str | None = None) -> list[str]:
        """Optional headers a file is expected to carry: their absence is reported (not those added later)."""
        return [c.header for c in self.columns_for(sheet) if not c.required and not c.added_later]

    def header_map(self, sheet: str | None = None) -> dict[str, str]:
        """Normalised Chinese header (or JSON key) -> snake_case column name."""
        return {normalise_header(c.header): c.name for c in self.columns_for(sheet)}

    @property
    def all_names(self) -> list[str]:
        cols = [c for cols in self.sheets.values() for c in cols] if self.sheets else list(self.columns)
        seen: dict[str, None] = {}
        for c in cols:
            seen.setdefault(c.name)
        return list(seen)


@dataclass(frozen=True)
class FeedSpec:
    slug: str
    department: str
    cadence: str  # snapshot | weekly | daily | monthly
    tables: tuple[TableSpec, ...]


def _cols(*items: tuple | Column) -> tuple[Column, ...]:
    return tuple(i if isinstance(i, Column) else Column(i[0], i[1], bool(i[2]) if len(i) > 2 else False) for i in items)


R = True  # marks a required column in the tables below

_GRID_UNITS = _cols(
    ("网格编码", "grid_code", R),
    ("网格名称", "grid_name", R),
    ("网格类型", "grid_type"),
    ("所属社区编码", "community_code", R),
    ("所属社区", "community_name"),
    ("所属街道编码", "street_code", R),
    ("所属街道", "street_name"),
    ("所属区县编码", "county_code", R),
    ("所属区县", "county_name"),
    ("网格员", "grid_worker_name"),
    ("网格员电话", "grid_worker_phone"),
    ("户数", "households"),
    ("常住人口", "resident_population"),
    ("启用日期", "valid_from", R),
    ("停用日期", "valid_to"),
    ("并入网格编码", "merged_into"),
)

_ADDRESS_POINTS = _cols(
    ("地址编码", "address_code", R),
    ("标准地址", "standard_address", R),
    ("街路巷", "road"),
    ("门牌号", "house_number"),
    ("楼栋", "building"),
    ("网格编码", "grid_code", R),
    ("经度", "lon"),
    ("纬度", "lat"),
)

_BOUNDARIES = _cols(("网格编码", "grid_code", R), ("geometry", "geometry", R))

_POLICE_POPULATION = _cols(
    ("人员编号", "source_person_id", R),
    ("姓名", "name", R),
    ("证件类型", "doc_type", R),
    ("证件号码", "id_number", R),
    ("性别", "sex"),
    ("民族", "ethnicity"),
    ("出生日期", "birth_date"),
    ("人口类型", "population_type"),
    ("户籍地址", "hukou_address"),
    ("现住地址", "address"),
    ("联系电话", "phone"),
    ("所属派出所", "police_station"),
    ("登记日期", "registered_date"),
    ("人员状态", "person_status", R),
    ("状态变更日期", "status_changed_date"),
    # the register's household (户口簿) columns, exported only from some week on
    Column("户号", "household_no", added_later=True),
    Column("与户主关系", "relation_to_head", added_later=True),
)

_POLICE_INCIDENTS = _cols(
    ("警情编号", "incident_id", R),
    ("接警时间", "received_at", R),
    ("报警方式", "report_channel"),
    ("报警人", "name"),
    ("报警人证件号码", "id_number"),
    ("报警电话", "phone"),
    ("发生地址", "address"),
    ("经度", "lon"),
    ("纬度", "lat"),
    ("警情类别", "category", R),
    ("警情细类", "subcategory"),
    ("简要警情", "narrative"),
    ("管辖单位", "police_station"),
    ("处警结果", "outcome", R),
    ("反馈时间", "feedback_at", R),
)

_GRID_EVENTS = _cols(
    ("事件编号", "event_id", R),
    ("上报时间", "reported_at", R),
    ("上报人", "reporter_name"),
    ("网格编码", "grid_code_reported", R),
    ("事件大类", "category", R),
    ("事件小类", "subcategory"),
    ("事件描述", "description"),
    ("发生地址", "address"),
    ("经度", "lon"),
    ("纬度", "lat"),
    ("涉及人员", "people_involved"),
    ("处置层级", "handling_level"),
    ("当前状态", "status", R),
    ("派遣部门", "dispatched_to"),
    ("状态时间", "status_at", R),
    ("办结时间", "resolved_at"),
    ("群众评价", "satisfaction"),
)

# JSON keys are the interface's pinyin abbreviations; nested objects are
# flattened by the reader with a dot (``wtsd.jd``) and ``xfr`` is exploded into
# one row per petitioner (``xfr.xm`` ...) with member_no.
_PETITIONS = _cols(
    ("xfjbh", "case_id", R),
    ("djsj", "registered_at", R),
    ("xfxs", "channel"),
    ("xfrs", "petitioner_count"),
    ("xfr.xm", "name"),
    ("xfr.zjhm", "id_number"),
    ("xfr.lxdh", "phone"),
    ("xfr.zz", "address"),
    ("wtsd.jd", "problem_street"),
    ("wtsd.sq", "problem_community"),
    ("wtsd.dz", "problem_address"),
    ("wtlb", "category"),
    ("nrzy", "summary"),
    ("zrdw", "responsible_unit"),
    ("blqx", "due_date"),
    ("yq", "is_extended"),
    ("blzt", "status", R),
    ("lz", "history"),
    ("bjsj", "closed_at"),
    ("myd", "satisfaction"),
    ("cfxf", "clerk_repeat_flag"),
)

# 12345 work orders (hotline_orders.md): GD is the order as it stands at the end of a day, GDLZ one
# process step; an Open311 GeoReport v2 export carries the same orders under its own keys.
_HOTLINE_ORDERS = _cols(
    ("工单编号", "order_id", R),
    ("来电时间", "called_at", R),
    ("来源渠道", "channel"),
    ("诉求人", "name"),
    ("证件号码", "id_number"),
    ("联系电话", "phone"),
    ("诉求类型", "request_type", R),
    ("诉求分类", "category"),
    ("紧急程度", "urgency"),
    ("诉求内容", "content"),
    ("事发地址", "address"),
    ("经度", "lon"),
    ("纬度", "lat"),
    ("所属街道", "street_name"),
    ("所属社区", "community_name"),
    ("承办单位", "holder_unit"),
    ("派单时间", "dispatched_at"),
    ("签收时间", "signed_at"),
    ("办理时限", "due_at"),
    ("工单状态", "status", R),
    ("办结时间", "closed_at"),
    ("回访时间", "followed_up_at"),
    ("回访结果", "followup_result"),
    ("满意度", "satisfaction"),
    ("是否重办", "reopened_flag"),
    ("更新时间", "updated_at", R),
)

# Open311 GeoReport v2 (hotline_orders.md, "Also accepted"): the keys map onto the GD columns they
# stand for; what the format lacks (steps, follow-up, satisfaction, urgency) stays empty
_HOTLINE_OPEN311 = _cols(
    ("service_request_id", "order_id", R),
    ("requested_datetime", "called_at", R),
    ("status", "open311_status", R),
    ("status_notes", "status_notes"),
    ("service_name", "category"),
    ("service_code", "service_code"),
    ("description", "content"),
    ("agency_responsible", "holder_unit"),
    ("updated_datetime", "updated_at"),
    ("expected_datetime", "due_at"),
    ("address", "address"),
    ("lat", "lat"),
    ("long", "lon"),
)

_HOTLINE_STEPS = _cols(
    ("工单编号", "order_id", R),
    ("环节序号", "step_no", R),
    ("环节", "step", R),
    ("环节时间", "step_at", R),
    ("处理单位", "unit"),
    ("处理人", "staff_name"),
    ("说明", "note"),
)

#: civil_affairs sheet name -> programme slug
PROGRAMMES: dict[str, str] = {
    "城乡低保": "low_income",
    "特困供养": "extreme_poverty",
    "高龄津贴": "aged_allowance",
    "残疾人两项补贴": "disability_subsidy",
    "独居空巢老人": "elderly_alone",
}

_CA_COMMON = (("序号", "row_counter"), ("姓名", "name", R), ("身份证号码", "id_number", R))
_CIVIL_SHEETS: dict[str, tuple[Column, ...]] = {
    "城乡低保": _cols(
        *_CA_COMMON,
        ("户主姓名", "household_head_name"),
        ("与户主关系", "relation_to_head"),
        ("性别", "sex"),
        ("家庭住址", "address"),
        ("所属街道", "street_name"),
        ("所属社区", "community_name"),
        ("联系电话", "phone"),
        ("保障类型", "benefit_type"),
        ("保障人口", "household_size"),
        ("月保障金", "monthly_amount"),
        ("保障起始日期", "start_date"),
        ("备注", "remark"),
    ),
    "特困供养": _cols(
        *_CA_COMMON,
        ("性别", "sex"),
        ("出生日期", "birth_date"),
        ("供养方式", "support_mode"),
        ("所属街道", "street_name"),
        ("所属社区", "community_name"),
        ("住址", "address"),
        ("联系电话", "phone"),
        ("月供养金", "monthly_amount"),
        ("认定日期", "start_date"),
    ),
    "高龄津贴": _cols(
        *_CA_COMMON,
        ("年龄", "age"),
        ("所属社区", "community_name"),
        ("住址", "address"),
        ("发放标准", "monthly_amount"),
        ("联系人", "contact_name"),
        ("联系人电话", "contact_phone"),
    ),
    "残疾人两项补贴": _cols(
        *_CA_COMMON,
        ("残疾证号", "disability_cert_no"),
        ("残疾类别", "disability_category"),
        ("残疾等级", "disability_grade"),
        ("补贴类型", "subsidy_type"),
        ("所属社区", "community_name"),
        ("住址", "address"),
        ("联系电话", "phone"),
        ("月补贴金额", "monthly_amount"),
    ),
    "独居空巢老人": _cols(
        *_CA_COMMON,
        ("年龄", "age"),
        ("类型", "elderly_type"),
        ("所属社区", "community_name"),
        ("住址", "address"),
        ("联系电话", "phone"),
        ("紧急联系人", "emergency_contact_name"),
        ("紧急联系人电话", "emergency_contact_phone"),
        ("最近走访日期", "last_visit_date"),
    ),
}


# --- grid_visits (grid_visits.md): the visit log and the workers' roster -----------------------------

_GRID_VISITS = _cols(
    ("走访编号", "visit_id", R),
    ("走访时间", "visited_at", R),
    ("网格员工号", "worker_id", R),
    ("网格员", "worker_name"),
    ("网格编码", "grid_code_reported", R),
    ("走访对象类型", "subject_type", R),
    ("对象姓名", "name"),
    ("对象证件号码", "id_number"),
    ("对象电话", "phone"),
    ("地址", "address"),
    ("户编号", "community_household_no"),
    ("走访方式", "visit_mode", R),
    ("走访主题", "theme"),
    ("发现问题", "found_problem"),
    ("关联事件编号", "event_id"),
    ("经度", "lon"),
    ("纬度", "lat"),
    ("备注", "remark"),
)

_GRID_WORKERS = _cols(
    ("工号", "worker_id", R),
    ("姓名", "name", R),
    ("证件号码", "id_number"),
    ("联系电话", "phone"),
    ("岗位", "post", R),
    ("网格编码", "grid_code", R),
    ("微网格", "micro_grid"),
    ("岗位档次", "pay_step"),
    ("入职日期", "hired_date", R),
    ("离职日期", "left_date"),
    ("调岗日期", "moved_date"),
    ("上年度考核等次", "last_year_grade"),
)


def _t(feed: str, table: str, pattern: str, fmt: str, encoding: str | None, **kw) -> TableSpec:
    return TableSpec(feed, table, re.compile(pattern), fmt, encoding, **kw)


FEEDS: dict[str, FeedSpec] = {
    f.slug: f
    for f in (
        FeedSpec(
            "grid_registry",
            "综治中心 网格台账",
            "snapshot",
            (
                _t(
                    "grid_registry",
                    "grid_units",
                    r"^grid_units\.csv$",
                    "csv",
                    "utf-8-sig",
                    columns=_GRID_UNITS,
                    stands_on=("grid_code", "valid_from"),
                ),
                _t(
                    "grid_registry",
                    "address_points",
                    r"^address_points\.csv$",
                    "csv",
                    "utf-8-sig",
                    columns=_ADDRESS_POINTS,
                    stands_on=("address_code",),
                ),
                _t(
                    "grid_registry",
                    "grid_boundaries",
                    r"^grid_boundaries\.geojson$",
                    "geojson",
                    "utf-8",
                    columns=_BOUNDARIES,
                    # a boundary feature is its polygon: without one there is no record, only a key
                    stands_on=("grid_code", "geometry"),
                ),
            ),
        ),
        FeedSpec(
            "police_population",
            "公安 实有人口",
            "weekly",
            (
                _t(
                    "police_population",
                    "police_population",
                    r"^SYRK_(?P<data_date>\d{8})\.csv$",
                    "csv",
                    "gb18030",
                    columns=_POLICE_POPULATION,
                    # a snapshot row is dated by its file, not by a time of its own
                    stands_on=("source_person_id",),
                ),
            ),
        ),
        FeedSpec(
            "police_incidents",
            "公安 110 接处警",
            "daily",
            (
                _t(
                    "police_incidents",
                    "police_incidents",
                    r"^JQ_(?P<data_date>\d{8})\.csv$",
                    "csv",
                    "gb18030",
                    columns=_POLICE_INCIDENTS,
                    stands_on=("incident_id", "received_at"),
                ),
            ),
        ),
        FeedSpec(
            "civil_affairs",
            "民政 救助保障花名册",
            "monthly",
            (
                _t(
                    "civil_affairs",
                    "civil_affairs",
                    r"^.+救助保障花名册_(?P<data_month>\d{6})\.xlsx$",
                    "xlsx",
                    None,
                    sheets=_CIVIL_SHEETS,
                ),
            ),
        ),
        FeedSpec(
            "petitions",
            "信访 系统接口导出",
            "daily",
            (
                _t(
                    "petitions",
                    "petitions",
                    r"^XF_(?P<data_date>\d{8})\.jsonl$",
                    "jsonl",
                    "utf-8",
                    columns=_PETITIONS,
                    # petitions.md: "Required (a line without them is quarantined): xfjbh, djsj, blzt"
                    stands_on=("case_id", "registered_at", "status"),
                ),
            ),
        ),
        FeedSpec(
            "grid_events",
            "网格通 APP 巡查上报",
            "daily",
            (
                _t(
                    "grid_events",
                    "grid_events",
                    r"^SB_(?P<data_date>\d{8})\.csv$",
                    "csv",
                    "utf-8",
                    columns=_GRID_EVENTS,
                    stands_on=("event_id", "reported_at"),
                ),
            ),
        ),
        FeedSpec(
            "hotline_orders",
            "12345 热线 接诉即办 工单",
            "daily",
            (
                _t(
                    "hotline_orders",
                    "hotline_orders",
                    r"^GD_(?P<data_date>\d{8})\.csv$",
                    "csv",
                    "utf-8-sig",
                    columns=_HOTLINE_ORDERS,
                    stands_on=("order_id", "called_at"),
                ),
                # a step is (工单编号, 环节序号), dated by its 环节时间
                # the same orders as a vendor's Open311 export: one table with GD, told apart by source_format
                _t(
                    "hotline_orders",
                    "hotline_orders",
                    r"^open311_(?P<data_date>\d{8})\.json$",
                    "json",
                    "utf-8",
                    columns=_HOTLINE_OPEN311,
                    stands_on=("order_id", "called_at"),
                ),
                _t(
                    "hotline_orders",
                    "hotline_steps",
                    r"^GDLZ_(?P<data_date>\d{8})\.csv$",
                    "csv",
                    "utf-8-sig",
                    columns=_HOTLINE_STEPS,
                    stands_on=("order_id", "step_no", "step_at"),
                ),
            ),
        ),
        FeedSpec(
            "grid_visits",
            "网格员走访 + 网格员花名册",
            "daily",
            (
                _t(
                    "grid_visits",
                    "grid_visits",
                    r"^ZF_(?P<data_date>\d{8})\.csv$",
                    "csv",
                    "utf-8",
                    columns=_GRID_VISITS,
                    stands_on=("visit_id", "visited_at"),
                ),
                # a monthly full snapshot of who served in the month, from another system (GB18030)
                _t(
                    "grid_visits",
                    "grid_workers",
                    r"^WGY_(?P<data_month>\d{6})\.csv$",
                    "csv",
                    "gb18030",
                    columns=_GRID_WORKERS,
                    stands_on=("worker_id",),
                ),
            ),
        ),
    )
}


# --- credit_points (credit_points.md): one workbook a month, three sheets sharing one table -----------
# The sheet says what a row is (积分项目 an item version, 积分明细 an entry, 兑换记录 a redemption); a
# header two sheets share (户编号, 户主证件号码, 分值, 项目编码) is one column.

_CREDIT_SHEETS: dict[str, tuple[Column, ...]] = {
    "积分项目": _cols(
        ("项目编码", "item_code", R),
        ("项目名称", "item_name", R),
        ("项目类别", "item_category"),
        ("分值", "points", R),
        ("计分对象", "scored_on"),
        ("每月上限", "monthly_limit"),
        ("启用月份", "valid_from_month", R),
        ("停用月份", "valid_to_month"),
    ),
    "积分明细": _cols(
        ("流水号", "entry_id", R),
        ("发生日期", "occurred_date", R),
        ("户编号", "household_no", R),
        ("户主姓名", "head_name"),
        ("户主证件号码", "head_id_number"),
        ("成员姓名", "member_name"),
        ("成员证件号码", "member_id_number"),
        ("项目编码", "item_code", R),
        ("分值", "points", R),
        ("事由", "reason"),
        ("证明材料", "proof"),
        ("审核人", "reviewer_name"),
        ("审核状态", "review_status", R),
        ("审核时间", "reviewed_at", R),
    ),
    "兑换记录": _cols(
        ("兑换单号", "redemption_id", R),
        ("兑换日期", "redeemed_date", R),
        ("户编号", "household_no", R),
        ("户主姓名", "head_name"),
        ("户主证件号码", "head_id_number"),
        ("兑换物品", "goods"),
        ("消耗积分", "points_used", R),
        ("兑换点", "redemption_point"),
    ),
}

FEEDS["credit_points"] = FeedSpec(
    "credit_points",
    "社区 积分制 文明诚信档案",
    "monthly",
    (
        _t(
            "credit_points",
            "credit_points",
            r"^JF_(?P<data_month>\d{6})\.xlsx$",
            "xlsx",
            None,
            sheets=_CREDIT_SHEETS,
            # each sheet's key and the time that dates it: the normaliser asks only for its own sheet's
            stands_on=("item_code", "valid_from_month", "entry_id", "occurred_date", "redemption_id", "redeemed_date"),
        ),
    ),
)


# --- service_lists (service_lists.md): 三张清单, one workbook a day, a sheet per list ---------------------
# The three sheets share one normalised table (the sheet says which list a row is on), as civil_affairs'
# sheets do: one file is one table in the registry. Keys and times are named apart per sheet so the
# normaliser can tell which a row stands on.

_SERVICE_SHEETS: dict[str, tuple[Column, ...]] = {
    "需求清单": _cols(
        ("需求编号", "need_id", R),
        ("提出时间", "posted_at", R),
        ("提出渠道", "channel"),
        ("提出人", "name"),
        ("证件号码", "id_number"),
        ("联系电话", "phone"),
        ("网格编码", "grid_code_reported"),
        ("地址", "address"),
        ("需求类别", "category", R),
        ("需求描述", "description"),
        ("是否微心愿", "wish_flag"),
        ("资源编号", "taken_by_resource_id"),
        ("派单时间", "dispatched_at"),
        ("接单时间", "accepted_at"),
        ("办结时间", "closed_at"),
        ("当前状态", "status", R),
        ("状态时间", "status_at", R),
        ("群众评价", "satisfaction"),
        ("项目编号", "in_project_id"),
    ),
    "资源清单": _cols(
        ("资源编号", "resource_id", R),
        ("资源类型", "resource_type", R),
        ("名称", "resource_name", R),
        ("证件号码", "id_number"),
        ("联系电话", "phone"),
        ("所属单位", "employer"),
        ("服务类别", "service_categories"),
        ("服务范围", "service_scope"),
        ("登记日期", "registered_date"),
        ("状态", "status", R),
        ("状态时间", "status_at", R),
    ),
    "项目清单": _cols(
        ("项目编号", "project_id", R),
        ("项目名称", "project_name", R),
        ("项目类别", "category"),
        ("牵头资源", "lead_resource_id"),
        ("关联需求", "need_ids"),
        ("参与资源", "resource_ids"),
        ("立项日期", "started_date"),
        ("计划完成日期", "planned_date"),
        ("完成日期", "completed_date"),
        ("状态", "status", R),
        ("受益人数", "beneficiaries"),
        ("投入资金", "funds"),
        ("状态时间", "status_at", R),
    ),
}
#: the sheet -> the column holding its key
SERVICE_KEYS: dict[str, str] = {"需求清单": "need_id", "资源清单": "resource_id", "项目清单": "project_id"}
FEEDS["service_lists"] = FeedSpec(
    "service_lists",
    "社区服务小程序 三张清单",
    "daily",
    (
        _t(
            "service_lists",
            "service_lists",
            r"^QD_(?P<data_date>\d{8})\.xlsx$",
            "xlsx",
            None,
            sheets=_SERVICE_SHEETS,
            # each sheet stands on its own key (SERVICE_KEYS) and its 状态时间
            stands_on=("need_id", "resource_id", "project_id", "status_at"),
        ),
    ),
)


#: The feed every other feed is placed in: its grids and addresses load before anything else.
GRID_FEED = "grid_registry"
#: The order feeds load in, grid register first; a feed registered but not named here follows in registry order.
FEED_ORDER: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            s
            for s in (GRID_FEED, "police_population", "civil_affairs", "police_incidents", "petitions", "grid_events")
            if s in FEEDS
        ]
        + list(FEEDS)
    )
)


def feed(slug: str) -> FeedSpec:
    try:
        return FEEDS[slug]
    except KeyError:
        raise KeyError(f"unknown feed {slug!r}; expected one of {sorted(FEEDS)}") from None


def table_for_file(slug: str, file_name: str) -> TableSpec | None:
    """The table a delivered file belongs to, or None when its name fits none."""
    for spec in feed(slug).tables:
        if spec.pattern.match(file_name):
            return spec
    return None


_UNIT_SUFFIX = re.compile(r"\((?:元|元/月|元/人|人|户|岁|%|万元)\)$")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff\u00a0\u3000 \t\r\n"), None)


def normalise_header(text: str) -> str:
    """Header text as matched: no whitespace, ASCII brackets, no trailing unit.

    >>> normalise_header(" 月保障金（元） ")
    '月保障金'
    """
    folded = unicodedata.normalize("NFKC", text or "").translate(_INVISIBLE)
    return _UNIT_SUFFIX.sub("", folded)
