"""civil_affairs: monthly hand-made benefit-roll workbooks (xlsx)."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import polars as pl
import xlsxwriter

from .._quirks import fmt_date, noisy_header
from ._common import Context, render_homes, render_people

FEED = "civil_affairs"
SHEETS = {
    "城乡低保": [
        "序号",
        "户主姓名",
        "姓名",
        "与户主关系",
        "身份证号码",
        "性别",
        "家庭住址",
        "所属街道",
        "所属社区",
        "联系电话",
        "保障类型",
        "保障人口",
        "月保障金(元)",
        "保障起始日期",
        "备注",
    ],
    "特困供养": [
        "序号",
        "姓名",
        "身份证号码",
        "性别",
        "出生日期",
        "供养方式",
        "所属街道",
        "所属社区",
        "住址",
        "联系电话",
        "月供养金(元)",
        "认定日期",
    ],
    "高龄津贴": ["序号", "姓名", "身份证号码", "年龄", "所属社区", "住址", "发放标准(元/月)", "联系人", "联系人电话"],
    "残疾人两项补贴": [
        "序号",
        "姓名",
        "身份证号码",
        "残疾证号",
        "残疾类别",
        "残疾等级",
        "补贴类型",
        "所属社区",
        "住址",
        "联系电话",
        "月补贴金额(元)",
    ],
    "独居空巢老人": [
        "序号",
        "姓名",
        "身份证号码",
        "年龄",
        "类型",
        "所属社区",
        "住址",
        "联系电话",
        "紧急联系人",
        "紧急联系人电话",
        "最近走访日期",
    ],
}
FLAG_COL = {
    "城乡低保": "low_income",
    "特困供养": "extreme_poverty",
    "高龄津贴": "aged_80_plus",
    "残疾人两项补贴": "disabled",
    "独居空巢老人": "lives_alone",
}
AMOUNT_COL = {
    "城乡低保": "月保障金(元)",
    "特困供养": "月供养金(元)",
    "高龄津贴": "发放标准(元/月)",
    "残疾人两项补贴": "月补贴金额(元)",
}
DIS_CAT = ["", "视力", "听力", "言语", "肢体", "智力", "精神", "多重"]
RELATION = ["户主", "配偶", "子女", "子女", "父母", "孙子女", "兄弟姐妹", "其他"]
FIXED_CREATED = dt.datetime(2024, 1, 1, 9, 0, 0)
_EPOCH = dt.date(1899, 12, 30)


def _months(ctx: Context) -> list[dt.date]:
    out, m = [], ctx.start.replace(day=1)
    while m < ctx.end:
        out.append(m)
        m = (m + dt.timedelta(days=32)).replace(day=1)
    return out


def _sheet_table(ctx: Context, sheet: str) -> pl.DataFrame:
    """Every person ever on this roll, rendered once: hand-made rolls are copied month to month."""
    rng = ctx.rng(40, list(SHEETS).index(sheet))
    res = ctx.people.residents().with_row_index("_i")
    plan = ctx.patterns
    flag = pl.col(FLAG_COL[sheet])
    if plan is not None and sheet == "独居空巢老人":
        flag = flag | pl.col("_i").is_in(sorted(plan.living_alone))
    on = res.filter(flag)
    if sheet == "城乡低保":
        on = on.sort("household_id", "household_pos")
    idx = on["_i"].to_numpy().astype(np.int64)
    r = render_people(ctx, idx, rng, feed=FEED)
    n = len(idx)
    if plan is not None:  # the pattern people's IDs are clean on every roll, so they link for sure
        forced = np.isin(idx, sorted(plan.clean_ids))
        r["id"][forced], r["id_fault"][forced] = ctx.P["id_number"][idx][forced], "none"
    homes = render_homes(ctx, idx, rng)
    comm = dict(ctx.district.communities.select("community_code", "community_name").iter_rows())
    street = dict(ctx.district.streets.select("street_code", "street_name").iter_rows())
    age = ((np.datetime64(ctx.start) - ctx.P["birth"][idx]).astype(int) // 365.25).astype(int)
    cols: dict[str, object] = {
        "姓名": r["name"],
        "身份证号码": r["id"],
        "性别": r["sex"],
        "住址": homes,
        "家庭住址": homes,
        "所属社区": [comm[c] for c in on["community_code"]],
        "所属街道": [street[s] for s in on["street_code"]],
        "联系电话": r["phone"],
        "年龄": age,
        "_pid": r["person_id"],
        "_idf": r["id_fault"].astype(str),
        "_nf": r["name_fault"].astype(str),
        "_reg": on["registered_on"],
        "_left": on["left_on"],
        "_birth": ctx.P["birth"][idx],
        "_clean_id": ctx.P["id_number"][idx],
    }
    if sheet == "城乡低保":
        hh = on["household_id"].to_numpy()
        first = np.r_[0, np.flatnonzero(hh[1:] != hh[:-1]) + 1]
        head_of = np.repeat(first, np.diff(np.r_[first, n]))
        pos = np.arange(n) - head_of
        size = np.diff(np.r_[first, n])[np.searchsorted(first, np.arange(n), side="right") - 1]
        cols.update(
            {
                "户主姓名": ctx.P["name"][idx][head_of],
                "与户主关系": np.array(RELATION, dtype=object)[np.minimum(pos, 7)],
                "保障类型": np.where([c.endswith("村") for c in cols["所属社区"]], "农村低保", "城市低保"),
                "保障人口": size,
                "月保障金(元)": np.round(rng.uniform(300, 720, n), 0).astype(int),
                "保障起始日期": np.datetime64(ctx.start) - rng.integers(30, 2000, n).astype("timedelta64[D]"),
                "备注": np.where(rng.random(n) < 0.05, "动态调整", ""),
            }
        )
    elif sheet == "特困供养":
        cols.update(
            {
                "出生日期": ctx.P["birth"][idx],
                "供养方式": np.where(rng.random(n) < 0.3, "集中供养", "分散供养"),
                "月供养金(元)": np.round(rng.uniform(700, 1100, n), 0).astype(int),
                "认定日期": np.datetime64(ctx.start) - rng.integers(30, 3000, n).astype("timedelta64[D]"),
            }
        )
    elif sheet == "高龄津贴":
        cols.update(
            {
                "发放标准(元/月)": np.where(age >= 90, 200, 100),
                "联系人": ctx.P["name"][rng.integers(0, ctx.people.n_residents, n)],
                "联系人电话": ctx.P["phone"][rng.integers(0, ctx.people.n_residents, n)],
            }
        )
    elif sheet == "残疾人两项补贴":
        cat = on["disability_category"].to_numpy()
        grade = on["disability_grade"].to_numpy()
        cols.update(
            {
                "残疾证号": [f"{i}{c}{g}" for i, c, g in zip(ctx.P["id_number"][idx], cat, grade)],
                "残疾类别": np.array(DIS_CAT, dtype=object)[cat],
                "残疾等级": [f"{g}级" for g in grade],
                "补贴类型": np.array(["生活补贴", "护理补贴", "两项补贴"], dtype=object)[rng.integers(0, 3, n)],
                "月补贴金额(元)": np.where(grade <= 2, 160, 80),
            }
        )
    else:
        cols.update(
            {
                "类型": np.array(["独居", "空巢", "留守"], dtype=object)[rng.choice(3, n, p=[0.5, 0.4, 0.1])],
                "紧急联系人": ctx.P["name"][rng.integers(0, ctx.people.n_residents, n)],
                "紧急联系人电话": ctx.P["phone"][rng.integers(0, ctx.people.n_residents, n)],
                "最近走访日期": np.datetime64(ctx.start) - rng.integers(1, 60, n).astype("timedelta64[D]"),
            }
        )
        if plan is not None:
            alone = np.isin(idx, sorted(plan.living_alone))
            cols["类型"][alone] = "独居"
    return pl.DataFrame(
        {k: (list(v) if isinstance(v, np.ndarray) and v.dtype == object else v) for k, v in cols.items()}, strict=False
    )


def build(ctx: Context) -> None:
    rng = ctx.rng(41)
    months = _months(ctx)
    tables = {s: _sheet_table(ctx, s) for s in SHEETS}
    numeric_month = len(months) - 1
    missing_month = 2 if len(months) >= 3 else None
    d = ctx.district
    for mi, month in enumerate(months):
        deliver = max(ctx.start, month) + dt.timedelta(days=4)
        if deliver >= ctx.end:
            deliver = max(ctx.start, month)
        name = f"{d.county_name}救助保障花名册_{month:%Y%m}.xlsx"
        order = list(SHEETS)
        rng.shuffle(order)
        if mi == missing_month:
            order.remove("特困供养")
            ctx.truth.fault(FEED, deliver, name, "missing_sheet", detail="特困供养")
        numeric_sheet = "城乡低保" if mi == numeric_month else None
        buf = io.BytesIO()
        wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False})
        wb.set_properties({"created": FIXED_CREATED, "author": "区民政局"})
        title_fmt = wb.add_format({"bold": True, "align": "center", "font_size": 14})
        date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
        total_rows = 0
        for sheet in order:
            tb = tables[sheet].filter(
                (pl.col("_reg") <= month) & (pl.col("_left").is_null() | (pl.col("_left") > month))
            )
            ws = wb.add_worksheet(sheet)
            header = SHEETS[sheet]
            ws.merge_range(
                0,
                0,
                0,
                len(header) - 1,
                f"{d.county_name}{month.year}年{month.month}月"
                f"{sheet}{'对象' if sheet in ('城乡低保', '特困供养') else ''}花名册",
                title_fmt,
            )
            row = 1
            wbp = ctx.params.workbook  # the seed's hand-made habits
            if rng.random() < wbp["note_row"]:
                ws.write_string(row, 0, "填报单位:区民政局    单位:元")
                row += 1
            ws.write_row(row, 0, noisy_header(header, rng, wbp["header_noise"]))
            row += 1
            serial_dates = rng.random() < wbp["serial_dates"]
            text_form = ctx.params.date_main[FEED] if rng.random() < 0.7 else int(rng.integers(0, 5))
            rec_no = []
            idf = tb["_idf"].to_list()
            data_cols = {c: tb[c].to_list() for c in header[1:]}
            amount = 0
            for i in range(tb.height):
                if rng.random() < wbp["empty_row"]:
                    row += 1  # stray empty row
                ws.write_number(row, 0, i + 1)
                for j, c in enumerate(header[1:], start=1):
                    v = data_cols[c][i]
                    if v is None or v == "":
                        continue
                    if isinstance(v, dt.date):
                        if serial_dates:
                            ws.write_number(row, j, (v - _EPOCH).days, date_fmt)
                        else:
                            ws.write_string(row, j, fmt_date(v, text_form))
                    elif isinstance(v, (int, np.integer, float)):
                        ws.write_number(row, j, v)
                        if c == AMOUNT_COL.get(sheet):
                            amount += v
                    elif c == "身份证号码" and sheet == numeric_sheet and v.isdigit() and len(v) == 18:
                        ws.write_number(row, j, float(v[:15] + "000"))  # Excel keeps 15 significant digits
                        idf[i] = "excel_damage"
                    else:
                        ws.write_string(row, j, str(v))
                rec_no.append(row + 1)
                row += 1
            if rng.random() < wbp["total_row"]:
                ws.write_string(row, 0, "合计")
                if sheet in AMOUNT_COL:
                    ws.write_number(row, header.index(AMOUNT_COL[sheet]), amount)
                row += 1
            row += 1
            ws.write_string(row, 0, f"制表人:{'' if rng.random() < 0.3 else '张敏'}")
            ws.write_string(row, 3, "审核人:")
            ws.write_string(row, 6, f"填报日期:{deliver.year}年{deliver.month}月{deliver.day}日")
            ctx.truth.records.add(
                FEED, name, sheet, rec_no, np.ones(len(rec_no)), tb["_pid"].to_numpy(), idf, tb["_nf"].to_list()
            )
            total_rows += len(rec_no)
        if numeric_sheet:
            ctx.truth.fault(FEED, deliver, name, "numeric_id_sheet", detail=numeric_sheet)
        wb.close()
        ctx.landing.deliver(FEED, deliver, name, buf.getvalue(), total_rows)
