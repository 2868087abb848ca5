"""police_population: weekly full snapshot of the register, GB18030."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from .._ids import render_ids
from .._quirks import noisy_header, render_dates, render_names
from ..landing import csv_bytes
from ..people import ETHNIC_CODE
from ._common import Context, render_homes, render_people, switched_codec, switched_encoding

FEED = "police_population"
COLUMNS = [
    "人员编号",
    "姓名",
    "证件类型",
    "证件号码",
    "性别",
    "民族",
    "出生日期",
    "人口类型",
    "户籍地址",
    "现住地址",
    "联系电话",
    "所属派出所",
    "登记日期",
    "人员状态",
    "状态变更日期",
]
_KEEP_LEFT_DAYS = 28  # a moved/dead person stays in the snapshot with its status this long


def _register(ctx: Context) -> pl.DataFrame:
    rng = ctx.rng(20)
    res = ctx.people.residents()
    n = res.height
    idx = np.arange(n)
    r = render_people(ctx, idx, rng, feed=FEED)
    # duplicates: ~1% entered twice under another 人员编号, spelled differently, some with the 15-digit ID
    dup = rng.choice(n, size=max(1, n // 100), replace=False)
    dup.sort()
    P = ctx.P
    d_ids = P["id_number"][dup].astype(object)
    d_idf = np.full(len(dup), "none", dtype=object)
    old = (
        (rng.random(len(dup)) < 0.35)
        & (P["doc_type"][dup] == "居民身份证")
        & (np.char.startswith(P["id_number"][dup].astype(str), "19", start=6))
    )
    d_ids[old] = [s[:6] + s[8:17] for s in d_ids[old]]
    d_idf[old] = "old_15"
    rest = ~old
    d_ids[rest], d_idf[rest] = render_ids(
        P["id_number"][dup][rest],
        rng,
        {"spaces": 0.1, "bad_check": 0.05, "lower_x": 0.3},
        P["doc_type"][dup][rest] == "居民身份证",
    )
    d_idf[P["doc_type"][dup] != "居民身份证"] = "foreign"
    d_names, d_nf = render_names(P["name"][dup], rng, {"homophone": 0.3, "traditional": 0.15, "spaces": 0.15})
    all_idx = np.concatenate([idx, dup])
    n_all = len(all_idx)
    # 人员编号: R + 14 digits, unique, unrelated to the person
    nums = rng.choice(10**8, size=n_all, replace=False)
    rid = np.char.add("R" + ctx.district.county_code, np.char.zfill(nums.astype(str), 8))
    ethnic = res["ethnic"].to_numpy()[all_idx].astype(object)
    as_code = rng.random(n_all) < 0.1
    ethnic[as_code] = [ETHNIC_CODE.get(e, "01") for e in ethnic[as_code]]
    birth = P["birth"][all_idx]
    hukou_region = res["hukou_region"].to_numpy()[all_idx]
    homes = render_homes(ctx, all_idx, rng)
    from .._ids import MIGRANT_REGIONS

    mig = dict(MIGRANT_REGIONS)
    vill = np.array(["新村", "和平村", "红星村", "向阳村", "东风村", "新华村"])[rng.integers(0, 6, n_all)]
    ptype = res["population_type"].to_numpy()[all_idx]
    hukou = np.where(
        ptype == "户籍人口",
        homes,
        np.where(
            ptype == "流动人口",
            [mig.get(h, "") + v + f"{k % 97 + 1}组" for h, v, k in zip(hukou_region, vill, range(n_all))],
            "",
        ),
    )
    station = np.array(
        [s.replace("街道", "").replace("镇", "") + "派出所" for s in ctx.district.streets["street_name"]], dtype=object
    )
    st_idx = {c: i for i, c in enumerate(ctx.district.streets["street_code"])}
    st = np.array([st_idx.get(s, 0) for s in res["street_code"].to_numpy()[all_idx]])
    reg_on = res["registered_on"].to_numpy().astype("datetime64[D]")[all_idx]
    left_on = res["left_on"].to_numpy().astype("datetime64[D]")[all_idx]
    left_reason = res["left_reason"].to_numpy()[all_idx]
    # a few duplicate entries were cancelled by the register itself
    is_dup = np.r_[np.zeros(n, dtype=bool), np.ones(len(dup), dtype=bool)]
    cancel = is_dup & (rng.random(n_all) < 0.05) & np.isnat(left_on)
    left_on[cancel] = np.datetime64(ctx.start) - rng.integers(10, 300, cancel.sum()).astype("timedelta64[D]")
    left_on[cancel] = np.maximum(left_on[cancel], reg_on[cancel] + np.timedelta64(1, "D"))
    left_reason = left_reason.astype(object)
    left_reason[cancel] = "注销"
    prm = ctx.params
    hh_no, hh_rel = _households(res, ctx.rng(22))
    new_no, new_rel, new_from = _household_changes(ctx, res, hh_no, hh_rel, ctx.rng(26))
    _households_truth(ctx, res, hh_no, hh_rel, new_no, new_rel, new_from)
    # the same per-record quirk draws for a record's number before and after a change (same stream, same records)
    hh_no, hh_rel = _household_quirks(hh_no, hh_rel, ctx.rng(24))
    new_no, new_rel = _household_quirks(new_no, new_rel, ctx.rng(24))
    # the register is a database: a record's spelling is the same every week
    df = pl.DataFrame(
        {
            "人员编号": rid,
            "姓名": np.concatenate([r["name"], d_names]),
            "证件类型": P["doc_type"][all_idx],
            "证件号码": np.concatenate([r["id"], d_ids]),
            "性别": np.concatenate([r["sex"], r["sex"][dup]]),
            "民族": ethnic,
            "出生日期": render_dates(
                birth, rng, main=prm.date_main[FEED], other_rate=prm.date_other_rate, empty_rate=prm.date_empty_rate
            ),
            "人口类型": ptype,
            "户籍地址": hukou,
            "现住地址": homes,
            "联系电话": np.concatenate([r["phone"], r["phone"][dup]]),
            "所属派出所": station[st],
            "登记日期": render_dates(
                reg_on, rng, main=prm.date_main[FEED], other_rate=prm.date_other_rate / 2, empty_rate=0.0
            ),
            "_hh_no": hh_no[all_idx],
            "_hh_rel": hh_rel[all_idx],
            "_hh_no2": new_no[all_idx],
            "_hh_rel2": new_rel[all_idx],
            "_hh_from": new_from[all_idx],
            "_reg": reg_on,
            "_left": left_on,
            "_reason": left_reason.astype(str),
            "_pid": P["person_id"][all_idx],
            "_idf": np.concatenate([r["id_fault"], d_idf]).astype(str),
            "_nf": np.concatenate([r["name_fault"], d_nf]).astype(str),
        }
    ).sort("人员编号")
    return df


RELATION = np.array(["户主", "配偶", "子", "女", "父母", "孙子女", "兄弟姐妹", "其他"], dtype=object)


def _households(res: pl.DataFrame, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """户号 (9 digits) and 与户主关系 per register person: registered residents and the few migrant households
    holding a local 户口簿; empty for the others."""
    hh = res["household_id"].to_numpy()
    pos = res["household_pos"].to_numpy()
    male = (res["sex"] == "男").to_numpy()
    n_hh = int(hh.max()) + 1 if len(hh) else 1
    numbers = rng.choice(9 * 10**8, size=n_hh, replace=False) + 10**8 if n_hh < 10**7 else np.arange(n_hh) * 97 + 10**8
    local_migrant = rng.random(n_hh) < 0.05
    ptype = res["population_type"].to_numpy()
    has = (ptype == "户籍人口") | ((ptype == "流动人口") & local_migrant[hh])
    no = np.where(has, numbers[hh].astype(str), "").astype(object)
    rel_idx = np.select(
        [pos == 0, pos == 1, pos <= 4],
        [0, 1, np.where(male, 2, 3)],
        np.array([4, 5, 6, 7])[rng.integers(0, 4, len(pos))],
    )
    rel = np.where(has, RELATION[rel_idx], "").astype(object)
    return no, rel


# how a clerk writes a relation the code list spells otherwise (fields.normalise_relation maps them back)
_RELATION_VARIANTS = {
    "户主": ["本人"],
    "配偶": ["妻", "夫"],
    "子": ["长子", "次子"],
    "女": ["长女", "女儿"],
    "父母": ["父亲", "母亲"],
    "孙子女": ["孙子", "孙女"],
    "兄弟姐妹": ["弟弟", "姐姐"],
    "其他": ["99"],
}
_RELATION_OFF_LIST = np.array(["保姆", "寄居", "表兄"], dtype=object)


# a household's 户号 changes in the period: the whole household re-registered under a new 户号 (户口迁移 to
# another address, the receiving station issues the number), or one adult child founds a household (分户)
_MOVE_RATE = 0.005
_SPLIT_RATE = 0.005
_NEVER = 1 << 20  # week index of a change that does not happen


def _household_changes(
    ctx: Context, res: pl.DataFrame, hh_no: np.ndarray, hh_rel: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per register person: the 户号 and relation after its household's change and the snapshot week the change
    shows from (_NEVER when none). Changes fall in a week after the first that exports household columns, so the
    old number is seen at least once and the household has a history to follow. Own stream: nothing else moves."""
    n = len(hh_no)
    new_no, new_rel = hh_no.copy(), hh_rel.copy()
    new_from = np.full(n, _NEVER, dtype=np.int64)
    weeks = len(ctx.params.register["weeks"])
    first = ctx.params.register["household_from_week"] + 1
    if first >= weeks or n == 0:
        return new_no, new_rel, new_from
    has = hh_no != ""
    hh = res["household_id"].to_numpy()
    pos = res["household_pos"].to_numpy()
    birth = res["birth_date"].to_numpy().astype("datetime64[D]")
    adult = (np.datetime64(ctx.start) - birth) >= np.timedelta64(20 * 365, "D")
    uh = np.unique(hh[has])
    u = rng.random(len(uh))
    week = rng.integers(first, weeks, len(uh))
    # a split needs a founder: an adult child (position 2 on) with a 户号
    can_split = np.isin(uh, hh[has & (pos >= 2) & adult])
    move = u < _MOVE_RATE
    split = (u >= _MOVE_RATE) & (u < _MOVE_RATE + _SPLIT_RATE) & can_split
    # at least one of each whenever the period has room for them: the marts must be seen to follow both
    if not move.any():
        move[np.argmin(np.where(split, 2.0, u))] = True
    if not split.any() and (can_split & ~move).any():
        split[np.argmin(np.where(can_split & ~move, u, 2.0))] = True
    # the founder of a split: the household's first adult child (position 2 on) with a 户号
    cand = np.flatnonzero(has & (pos >= 2) & adult & np.isin(hh, uh[split]))
    cand = cand[np.lexsort((pos[cand], hh[cand]))]
    founders = cand[np.r_[True, hh[cand][1:] != hh[cand][:-1]]] if len(cand) else cand
    taken = set(hh_no[has].tolist())
    fresh: list[str] = []
    while len(fresh) < int(move.sum()) + len(founders):
        v = str(int(rng.integers(10**8, 10**9)))
        if v not in taken:
            taken.add(v)
            fresh.append(v)
    wk = dict(zip(uh.tolist(), week.tolist()))
    for j, h in enumerate(uh[move].tolist()):
        members = np.flatnonzero(has & (hh == h))
        new_no[members] = fresh[j]
        new_from[members] = wk[h]
    for j, i in enumerate(founders.tolist(), start=int(move.sum())):
        new_no[i] = fresh[j]
        new_rel[i] = "户主"
        new_from[i] = wk[int(hh[i])]
    return new_no, new_rel, new_from


def _households_truth(
    ctx: Context,
    res: pl.DataFrame,
    hh_no: np.ndarray,
    hh_rel: np.ndarray,
    new_no: np.ndarray,
    new_rel: np.ndarray,
    new_from: np.ndarray,
) -> None:
    """truth/households.parquet: every register person with a 户口簿 household, its 户号 and relation as the
    register holds them at the end of the period (before any rendering quirk), and the first snapshot that exports
    the columns; for a household whose 户号 changed (a move or a split), the number before, the change and the
    snapshot it shows from, and the household as one entity (household_entity_no: the number it was first seen
    with; a split-off household is a new household under its own number)."""
    has = hh_no != ""
    weeks = len(ctx.params.register["weeks"])
    k = ctx.params.register["household_from_week"]
    from_date = ctx.start + dt.timedelta(days=7 * k) if k < weeks else None
    changed = has & (new_from < _NEVER)
    founder = changed & (new_rel == "户主") & (hh_rel != "户主")
    change = np.where(founder, "split", np.where(changed, "move", ""))
    on = [ctx.start + dt.timedelta(days=7 * int(w)) if w < _NEVER else None for w in new_from[has]]
    pl.DataFrame(
        {
            "person_id": res["person_id"].to_numpy()[has],
            "household_id": res["household_id"].to_numpy()[has],
            "household_no": new_no[has].astype(str),
            "relation_to_head": new_rel[has].astype(str),
            "household_no_before": hh_no[has].astype(str),
            "relation_before": hh_rel[has].astype(str),
            "household_entity_no": np.where(change == "move", hh_no, new_no)[has].astype(str),
            "change": change[has].astype(str),
            "changed_on": pl.Series(on, dtype=pl.Date),
        }
    ).with_columns(pl.lit(from_date, pl.Date).alias("exported_from")).write_parquet(
        ctx.truth.dir / "households.parquet"
    )


def _household_quirks(hh_no: np.ndarray, hh_rel: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """What a register's household columns look like (police_population.md): a relation in a 户口簿's words
    (本人, 长子) or off the code list (保姆), 户号 in full-width digits or one digit short. Drawn per record
    once, from its own stream: the register spells a record the same every week, and other columns' bytes do
    not move."""
    no, rel = hh_no.copy(), hh_rel.copy()
    has = np.flatnonzero(no != "")
    u = rng.random((len(has), 2))
    pick = rng.integers(0, 6, len(has))
    for j in np.flatnonzero(u[:, 0] < 0.02):
        i = has[j]
        forms = _RELATION_VARIANTS.get(rel[i], [])
        if forms:
            rel[i] = forms[pick[j] % len(forms)]
    off = np.flatnonzero(u[:, 0] > 0.998)
    rel[has[off]] = _RELATION_OFF_LIST[pick[off] % len(_RELATION_OFF_LIST)]
    wide = has[u[:, 1] < 0.003]
    no[wide] = [v.translate(str.maketrans("0123456789", "０１２３４５６７８９")) for v in no[wide]]
    short = has[u[:, 1] > 0.999]
    no[short] = [v[:-1] for v in no[short]]
    return no, rel


def _snapshot_bytes(
    ctx: Context,
    reg: pl.DataFrame,
    sel: np.ndarray,
    gone: np.ndarray,
    left: np.ndarray,
    reason: np.ndarray,
    k: int,
    fixed: list[str],
    switched: bool,
) -> tuple[bytes, dict]:
    """Snapshot ``k`` as the register exported it that week (params.register): optional columns left out, an
    unannounced column, another column order, noisy header cells, 户号/与户主关系 once the register has them,
    UTF-8 instead of GB18030. Returns the bytes and what was varied (for the truth's faults)."""
    lay = ctx.params.register["weeks"][k]
    household = k >= ctx.params.register["household_from_week"]
    cur = reg[sel].with_columns(
        人员状态=pl.Series(np.where(gone[sel], reason[sel], "在册"), dtype=pl.Utf8),
        状态变更日期=pl.Series(np.where(gone[sel], np.datetime_as_string(left[sel], unit="D"), ""), dtype=pl.Utf8),
        户号=pl.when(pl.col("_hh_from") <= k).then(pl.col("_hh_no2")).otherwise(pl.col("_hh_no")),
        与户主关系=pl.when(pl.col("_hh_from") <= k).then(pl.col("_hh_rel2")).otherwise(pl.col("_hh_rel")),
    )
    cols = [*fixed, "人员状态", "状态变更日期", *(["户号", "与户主关系"] if household else [])]
    cols = [c for c in cols if c not in lay["drop"]]
    if lay["extra"]:
        u = np.random.default_rng([ctx.seed, 23, k]).random(cur.height)
        cur = cur.with_columns(pl.Series(lay["extra"], np.where(u < 0.6, "", f"{lay['extra']}{k + 1}"), dtype=pl.Utf8))
        cols.append(lay["extra"])
    if lay["shuffle_seed"]:
        cols = [cols[i] for i in np.random.default_rng(lay["shuffle_seed"]).permutation(len(cols))]
    out = cur.select(cols)
    if lay["header_noise_seed"]:
        header = noisy_header(cols, np.random.default_rng(lay["header_noise_seed"]), 0.3)
        if len(set(header)) == len(header):
            out = out.rename(dict(zip(cols, header)))
    enc, bom = switched_codec(ctx, FEED) if switched else ("gb18030", False)
    varied = {
        "missing_optional_columns": ",".join(lay["drop"]),
        "extra_column": lay["extra"] or "",
        "column_order": "shuffled" if lay["shuffle_seed"] else "",
        "header_noise": "yes" if lay["header_noise_seed"] else "",
    }
    return csv_bytes(out, encoding=enc, bom=bom, crlf=True), {k_: v for k_, v in varied.items() if v}


def build(ctx: Context) -> None:
    reg = _register(ctx)
    snaps = [ctx.start + dt.timedelta(days=7 * k) for k in range((ctx.days + 6) // 7)]
    fixed = [c for c in reg.columns if not c.startswith("_")]
    # the register's spelling is fixed, so each record is encoded once and a week exported in the usual layout
    # is joined from bytes
    body = reg.select(fixed).write_csv(None, include_header=False, line_terminator="\r\n", quote_style="necessary")
    lines = body.encode("gb18030").split(b"\r\n")[:-1]
    del body
    if len(lines) != reg.height:
        raise RuntimeError("police_population: a register field contains a line break")
    in_register = ",在册,".encode("gb18030")
    hh_bytes: list[bytes] = []  # ",户号,与户主关系" per register row, encoded once the register exports them
    hh_after: dict[int, bytes] = {}  # the same for a row whose household changed, from the week it shows
    hh_from = reg["_hh_from"].to_numpy()
    reg_on = reg["_reg"].to_numpy()
    left = reg["_left"].to_numpy()
    reason = reg["_reason"].to_numpy()
    pid, idf, nf = reg["_pid"].to_numpy(), reg["_idf"].to_numpy(), reg["_nf"].to_numpy()
    for k, snap in enumerate(snaps):
        s64 = np.datetime64(snap)
        keep = (reg_on <= s64) & (np.isnat(left) | (left > s64 - np.timedelta64(_KEEP_LEFT_DAYS, "D")))
        gone = ~np.isnat(left) & (left <= s64)
        sel = np.flatnonzero(keep)
        name = f"SYRK_{snap:%Y%m%d}.csv"
        lay = ctx.params.register["weeks"][k]
        switched = switched_encoding(ctx, FEED, k)
        household = k >= ctx.params.register["household_from_week"]
        if not (switched or lay["drop"] or lay["shuffle_seed"]):
            # the usual column order, maybe with 户号/与户主关系 and an unannounced column at the end and noisy
            # header cells: joined from the bytes encoded once (a 1M register has 52 snapshots a year)
            if household and not hh_bytes:
                hh_bytes = [f",{a},{b}".encode("gb18030") for a, b in zip(reg["_hh_no"], reg["_hh_rel"])]
                hh_after = {
                    i: f",{reg['_hh_no2'][i]},{reg['_hh_rel2'][i]}".encode("gb18030")
                    for i in np.flatnonzero(hh_from < _NEVER).tolist()
                }
            cols = [
                *fixed,
                "人员状态",
                "状态变更日期",
                *(["户号", "与户主关系"] if household else []),
                *([lay["extra"]] if lay["extra"] else []),
            ]
            names = (
                noisy_header(cols, np.random.default_rng(lay["header_noise_seed"]), 0.3)
                if lay["header_noise_seed"]
                else cols
            )
            names = names if len(set(names)) == len(names) else cols
            suffix = [in_register] * len(sel)
            for j in np.flatnonzero(gone[sel]):
                i = sel[j]
                suffix[j] = f",{reason[i]},{np.datetime_as_string(left[i], unit='D')}".encode("gb18030")
            extra = [b"\r\n"] * len(sel)
            if lay["extra"]:
                u = np.random.default_rng([ctx.seed, 23, k]).random(len(sel))
                filled = f",{lay['extra']}{k + 1}\r\n".encode("gb18030")
                extra = [b",\r\n" if x < 0.6 else filled for x in u]
            parts = [(",".join(names) + "\r\n").encode("gb18030")]
            for i, suf, end in zip(sel.tolist(), suffix, extra):
                parts.append(lines[i])
                parts.append(suf)
                if household:
                    parts.append(hh_after[i] if hh_from[i] <= k else hh_bytes[i])
                parts.append(end)
            data = b"".join(parts)
            del parts
            varied = {"extra_column": lay["extra"] or "", "header_noise": "yes" if lay["header_noise_seed"] else ""}
            for kind, detail in varied.items():
                if detail:
                    ctx.truth.fault(FEED, snap, name, kind, detail=detail)
        else:
            data, varied = _snapshot_bytes(ctx, reg, sel, gone, left, reason, k, fixed, switched)
            for kind, detail in varied.items():
                ctx.truth.fault(FEED, snap, name, kind, detail=detail)
            if switched:
                enc, bom = switched_codec(ctx, FEED)
                ctx.truth.fault(
                    FEED, snap, name, "encoding_switch", detail=f"{enc}{' with BOM' if bom else ''} instead of GB18030"
                )
        ctx.landing.deliver(FEED, snap, name, data, len(sel))
        n = len(sel)
        ctx.truth.records.add(
            FEED, name, "", np.arange(1, n + 1), np.ones(n, dtype=np.int32), pid[sel], idf[sel], nf[sel]
        )
