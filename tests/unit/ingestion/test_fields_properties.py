"""Property-based tests (Hypothesis) of the field rules in ``ingestion.fields``.

Each property draws clean values, renders them in the forms the feed README lists
(../shared/feeds/README.md, "Personal fields"), and checks that the rule gives the
clean value back. The oracles (check character, Excel serial, traditional pairs) are
written here independently of the module. Examples are drawn in lists and evaluated
in one Polars frame, so a property costs one batch per example, not one per value.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ingestion import fields as f

# quick enough for `make test`: a few seconds per property (each example is one Polars batch); set
# locally, not as a profile, so that other test modules keep Hypothesis' defaults
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
GOOD_IDS = ("valid", "upgraded_15", "foreign_valid")
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\ufeff", "\u2060")
BLANKS = (" ", "\u3000", "\t")
FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
TODAY = dt.date.today()


def check_char(first17: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) % 11]


def run(expr: pl.Expr, values: list, dtype=pl.String) -> list:
    return pl.DataFrame({"v": values}, schema={"v": dtype}).select(expr.alias("out"))["out"].to_list()


# --------------------------------------------------------------------------- strategies

# citizen regions only (11..65 and HK/Macao/Taiwan permits): a 9xxxxx number is a foreign PR card
REGIONS = sorted(c for c in f.region_codes() if c[0] != "9")


@st.composite
def citizen_ids(draw, *, earliest=dt.date(1900, 1, 1), latest=TODAY - dt.timedelta(days=1)):
    region = draw(st.sampled_from(REGIONS))
    born = draw(st.dates(min_value=earliest, max_value=latest))
    seq = draw(st.integers(0, 999))
    first17 = f"{region}{born:%Y%m%d}{seq:03d}"
    return first17 + check_char(first17)


@st.composite
def rendered(draw, clean: str) -> str:
    """``clean`` in any mix of the README's forms: lower-case x, full-width, inner spaces, zero-width, padding."""
    s = clean
    if draw(st.booleans()):
        s = s.replace("X", "x")
    if draw(st.booleans()):
        s = s.translate(FULLWIDTH)
    for _ in range(draw(st.integers(0, 3))):  # inner spaces, as typists group the digits
        at = draw(st.integers(1, len(s) - 1))
        s = s[:at] + draw(st.sampled_from((" ", "  ", "\u3000"))) + s[at:]
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(s)))
        s = s[:at] + draw(st.sampled_from(ZERO_WIDTH)) + s[at:]
    pad = st.text(st.sampled_from(BLANKS + ZERO_WIDTH), max_size=3)
    return draw(pad) + s + draw(pad)


def rendered_ids(ids=None):
    return (ids or citizen_ids()).flatmap(lambda i: st.tuples(st.just(i), rendered(i)))


# --------------------------------------------------------------------------- citizen ID


@FAST
@given(st.lists(rendered_ids(), min_size=1, max_size=25))
def test_a_valid_id_in_any_rendered_form_normalises_to_itself(pairs):
    out = run(f.normalise_id(pl.col("v")), [r for _, r in pairs])
    for (clean, raw), got in zip(pairs, out, strict=True):
        assert (got["id_number"], got["id_status"]) == (clean, "valid"), repr(raw)
        assert got["birth_date"] == dt.date(int(clean[6:10]), int(clean[10:12]), int(clean[12:14]))
        assert got["sex"] == ("男" if int(clean[16]) % 2 else "女")


@FAST
@given(st.lists(citizen_ids(earliest=dt.date(1900, 1, 1), latest=dt.date(1999, 12, 31)), min_size=1, max_size=25))
def test_the_15_digit_form_upgrades_to_the_right_18(ids):
    old = [i[:6] + i[8:17] for i in ids]  # no century, no check character
    out = run(f.normalise_id(pl.col("v")), old)
    assert [(o["id_number"], o["id_status"]) for o in out] == [(i, "upgraded_15") for i in ids]


@FAST
@given(st.lists(st.tuples(citizen_ids(), st.integers(0, 17), st.integers(1, 10)), min_size=1, max_size=25))
def test_a_one_character_typo_never_validates(typos):
    typed = []
    for clean, at, shift in typos:
        if at == 17:  # the check character itself, to any other of 0-9 and X
            alphabet = "0123456789X"
            wrong = alphabet[(alphabet.index(clean[17]) + shift) % 11]
        else:
            wrong = str((int(clean[at]) + shift) % 10)
        assume(wrong != clean[at])
        typed.append(clean[:at] + wrong + clean[at + 1 :])
    out = run(f.normalise_id(pl.col("v")), typed)
    for raw, got in zip(typed, out, strict=True):
        assert got["id_status"] not in GOOD_IDS and got["id_number"] is None, raw


@FAST
@given(st.lists(citizen_ids().filter(lambda i: i[17] != "X"), min_size=1, max_size=25), st.data())
def test_excel_damage_is_recognised_and_never_repaired(ids, data):
    damaged, numeric = [], []
    for clean in ids:
        form = data.draw(st.sampled_from(("scientific", "scientific_long", "zeros", "float_text", "numeric_cell")))
        if form == "scientific":
            value = f"{float(clean):.5E}"  # 1.10105E+17
        elif form == "scientific_long":
            value = f"{float(clean):.11E}".replace("E+", "E")  # 1.10105194912E17
        elif form == "zeros":
            value = clean[:15] + "000"  # Excel keeps 15 significant digits
            assume(check_char(value[:17]) != value[17])  # a damaged value that happens to pass is a valid ID
        elif form == "float_text":
            value = f"{int(float(clean))}.0"
        else:
            value = clean
        damaged.append(value)
        numeric.append(form == "numeric_cell")
    frame = pl.DataFrame({"v": damaged, "n": numeric})
    out = frame.select(f.normalise_id(pl.col("v"), numeric_cell=pl.col("n")).alias("o"))["o"].to_list()
    for raw, got in zip(damaged, out, strict=True):
        assert (got["id_status"], got["id_number"]) == ("excel_damage", None), raw


@FAST
@given(st.lists(st.one_of(st.none(), st.text(max_size=30)), min_size=1, max_size=30))
def test_any_text_gets_a_known_status_and_only_a_checked_number(values):
    out = run(f.normalise_id(pl.col("v")), values)
    for raw, got in zip(values, out, strict=True):
        assert got["id_status"] in f.ID_STATUSES, raw
        number = got["id_number"]
        if got["id_status"] in GOOD_IDS:
            assert len(number) == 18 and number[17] == check_char(number[:17])
        else:
            assert number is None and got["birth_date"] is None and got["sex"] is None
        if raw is None or not raw.strip(" \t\n\r\x0b\x0c\u3000" + "".join(ZERO_WIDTH)):
            assert got["id_status"] == "empty"


# --------------------------------------------------------------------------- names

# common name characters; none of them alone or in pairs is an "anonymous" stand-in (匿名, 无, 不详 ...)
HAN = "张王李赵刘陈杨黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁沈任姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉兰萍红"
TRADITIONAL = dict(
    zip(
        "陈张刘杨黄赵吴孙马罗郑谢韩冯邓许龙华伟军丽红兰东刚杰涛义",
        "陳張劉楊黃趙吳孫馬羅鄭謝韓馮鄧許龍華偉軍麗紅蘭東剛傑濤義",
    )
)
DOTS = ("\u00b7", "\u2022", "\u30fb", ".", "\uff0e")
han_names = st.text(st.sampled_from(HAN), min_size=2, max_size=4)


@st.composite
def spaced(draw, name: str) -> str:
    """Spaces (ASCII, full-width) and zero-width characters between and around the characters."""
    gaps = st.text(st.sampled_from((" ", "\u3000", *ZERO_WIDTH)), max_size=2)
    return draw(gaps) + "".join(c + draw(gaps) for c in name)


@FAST
@given(st.lists(han_names.flatmap(lambda n: st.tuples(st.just(n), spaced(n))), min_size=1, max_size=25))
def test_spaces_and_zero_width_characters_inside_a_name_are_removed(pairs):
    out = run(f.normalise_name(pl.col("v")), [r for _, r in pairs])
    assert [(o["name"], o["name_status"]) for o in out] == [(n, "ok") for n, _ in pairs]


@FAST
@given(
    st.lists(
        st.tuples(han_names, han_names, st.sampled_from(DOTS), st.sampled_from(("", " "))), min_size=1, max_size=25
    )
)
def test_every_middle_dot_variant_unifies(parts):
    written = [f"{a}{pad}{dot}{pad}{b}" for a, b, dot, pad in parts]
    out = run(f.normalise_name(pl.col("v")), written)
    assert [o["name"] for o in out] == [f"{a}·{b}" for a, b, _, _ in parts]


@FAST
@given(st.lists(st.text(st.sampled_from("".join(TRADITIONAL)), min_size=2, max_size=4), min_size=1, max_size=25))
def test_traditional_characters_give_the_simplified_name(names):
    traditional = ["".join(TRADITIONAL[c] for c in n) for n in names]
    out = run(f.normalise_name(pl.col("v")), traditional)
    assert [o["name"] for o in out] == names


@FAST
@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), min_size=1, max_size=30))
def test_any_name_text_gets_a_known_status(values):
    out = run(f.normalise_name(pl.col("v")), values)
    for raw, got in zip(values, out, strict=True):
        assert got["name_status"] in f.NAME_STATUSES, raw
        assert (got["name"] is None) == (got["name_status"] in ("empty", "anonymous"))


# --------------------------------------------------------------------------- phones

mobiles = st.builds(lambda p, rest: f"1{p}{rest:09d}", st.sampled_from("3456789"), st.integers(0, 10**9 - 1))
area_codes = st.one_of(
    st.sampled_from(["010", *(f"02{d}" for d in range(10))]),
    st.builds(lambda a, b: f"0{a}{b:02d}", st.sampled_from("3456789"), st.integers(0, 99)),
)
locals_ = st.builds(
    lambda first, rest, eight: f"{first}{rest:07d}"[: 8 if eight else 7],
    st.sampled_from("23456789"),
    st.integers(0, 10**7 - 1),
    st.booleans(),
)


@st.composite
def mobile_forms(draw):
    m = draw(mobiles)
    form = draw(
        st.sampled_from(
            (
                m,
                "+86" + m,
                "86" + m,
                "+86-" + m,
                "+86 " + m,
                f"{m[:3]} {m[3:7]} {m[7:]}",
                f"{m[:3]}-{m[3:7]}-{m[7:]}",
                m.translate(FULLWIDTH),
                "0086" + m,
            )
        )
    )
    pad = draw(st.text(st.sampled_from(BLANKS + ZERO_WIDTH), max_size=2))
    return m, pad + form + pad


@st.composite
def landline_forms(draw):
    area, local = draw(area_codes), draw(locals_)
    form = draw(
        st.sampled_from(
            (
                f"{area}-{local}",
                f"({area}){local}",
                f"（{area}）{local}",
                f"{area} {local}",
                f"{area}{local}",
                f"+86-{area[1:]}-{local}",
                f"+86 {area[1:]} {local}",
            )
        )
    )
    return f"{area}-{local}", form


@FAST
@given(st.lists(mobile_forms(), min_size=1, max_size=25))
def test_every_mobile_form_gives_the_11_digits(pairs):
    out = run(f.normalise_phones(pl.col("v")), [r for _, r in pairs])
    assert [(o["phone"], o["phone_kind"], o["phones"]) for o in out] == [(m, "mobile", [m]) for m, _ in pairs]


@FAST
@given(st.lists(landline_forms(), min_size=1, max_size=25))
def test_every_landline_form_gives_area_dash_number(pairs):
    out = run(f.normalise_phones(pl.col("v")), [r for _, r in pairs])
    assert [(o["phone"], o["phone_kind"]) for o in out] == [(want, "landline") for want, _ in pairs]


@FAST
@given(
    st.lists(
        st.tuples(mobile_forms(), landline_forms(), st.sampled_from(("/", ";", "，", ",", "、", " / ", "；"))),
        min_size=1,
        max_size=20,
    )
)
def test_two_numbers_in_one_field_are_both_kept_in_order(items):
    written = [f"{m_raw}{sep}{l_raw}" for (_, m_raw), (_, l_raw), sep in items]
    out = run(f.normalise_phones(pl.col("v")), written)
    assert [o["phones"] for o in out] == [[m, land] for (m, _), (land, _), _ in items]
    assert [o["phone"] for o in out] == [m for (m, _), _, _ in items]


@FAST
@given(st.lists(locals_, min_size=1, max_size=20))
def test_a_bare_local_number_is_kept_as_local(numbers):
    out = run(f.normalise_phones(pl.col("v")), numbers)
    assert [(o["phone"], o["phone_kind"]) for o in out] == [(n, "local") for n in numbers]


@FAST
@given(st.lists(st.one_of(st.none(), st.text(max_size=20)), min_size=1, max_size=30))
def test_any_phone_text_gets_a_known_kind(values):
    out = run(f.normalise_phones(pl.col("v")), values)
    for raw, got in zip(values, out, strict=True):
        assert got["phone_kind"] in f.PHONE_KINDS, raw
        assert (got["phone"] is None) == (got["phone_kind"] in ("empty", "invalid"))


# --------------------------------------------------------------------------- dates


def date_forms(d: dt.date) -> list[str]:
    return [
        f"{d:%Y-%m-%d}",
        f"{d.year}/{d.month}/{d.day}",
        f"{d:%Y%m%d}",
        f"{d.year}年{d.month}月{d.day}日",
        f"{d:%Y.%m.%d}",
    ]


def excel_serial(d: dt.date) -> int:
    return (d - dt.date(1899, 12, 30)).days  # valid from 1900-03-01 on (Excel's phantom 1900-02-29 before)


@FAST
@given(
    st.lists(
        st.tuples(st.dates(dt.date(1900, 3, 1), dt.date(2099, 12, 31)), st.integers(0, 6), st.times(), st.booleans()),
        min_size=1,
        max_size=20,
    )
)
def test_every_date_form_gives_the_same_date(items):
    written, want = [], []
    for d, form, t, padded in items:
        forms = [*date_forms(d), f"{d:%Y-%m-%d} {t:%H:%M:%S}", f"{d.year}/{d.month}/{d.day} {t:%H:%M}"]
        text = forms[form]
        written += [
            f" {text}\u3000" if padded else text,
            str(excel_serial(d)),
            f"{excel_serial(d)}.{t.hour * 41 + 1}",
            text.translate(FULLWIDTH),
        ]
        want += [d] * 4
    assert run(f.parse_date(pl.col("v")), written) == want


@FAST
@given(
    st.lists(
        st.tuples(
            st.datetimes(dt.datetime(1992, 1, 1), dt.datetime(2099, 12, 31)).map(lambda x: x.replace(microsecond=0)),
            st.integers(-12, 14),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_date_times_are_china_time_and_offsets_convert(items):
    china = dt.timezone(dt.timedelta(hours=8))
    written, want = [], []
    for t, offset_h in items:
        local = t.replace(tzinfo=china)
        written += [
            f"{t:%Y-%m-%d %H:%M:%S}",
            f"{t:%Y-%m-%dT%H:%M:%S}+08:00",
            f"{t.year}/{t.month}/{t.day} {t:%H:%M:%S}",
        ]
        want += [local] * 3
        there = local.astimezone(dt.timezone(dt.timedelta(hours=offset_h)))
        written.append(there.strftime("%Y-%m-%dT%H:%M:%S") + f"{'+' if offset_h >= 0 else '-'}{abs(offset_h):02d}:00")
        want.append(local)
    got = run(f.parse_datetime(pl.col("v")), written)
    assert [g.astimezone(china) for g in got] == want


# --------------------------------------------------------------------------- sex


SEX_TEXT = ("男", "女", "1", "2", "M", "F", "m", "f", "male", "female", "男性", "女性", "", " ", "0", "9", "未知", None)


@FAST
@given(st.lists(st.tuples(citizen_ids(), st.sampled_from(SEX_TEXT)), min_size=1, max_size=25))
def test_a_valid_id_is_the_authority_for_sex(items):
    frame = pl.DataFrame(
        {"id": [i for i, _ in items], "sex": [s for _, s in items]}, schema={"id": pl.String, "sex": pl.String}
    )
    got = frame.select(
        f.normalise_sex(pl.col("sex"), id_sex=f.normalise_id(pl.col("id")).struct.field("sex")).alias("o")
    )["o"].to_list()
    assert got == [("男" if int(i[16]) % 2 else "女") for i, _ in items]


@FAST
@given(st.lists(st.sampled_from(SEX_TEXT), min_size=1, max_size=25))
def test_without_an_id_the_stated_sex_is_read_in_every_form(values):
    expected = {
        "男": "男",
        "1": "男",
        "M": "男",
        "m": "男",
        "male": "男",
        "男性": "男",
        "女": "女",
        "2": "女",
        "F": "女",
        "f": "女",
        "female": "女",
        "女性": "女",
    }
    frame = pl.DataFrame({"sex": values, "id": [None] * len(values)}, schema={"sex": pl.String, "id": pl.String})
    got = frame.select(
        f.normalise_sex(pl.col("sex"), id_sex=f.normalise_id(pl.col("id")).struct.field("sex")).alias("o")
    )["o"].to_list()
    assert got == [expected.get(v) for v in values]


# --- 统一社会信用代码 (service_lists resources) --------------------------------------------------------------


@given(st.integers(0, 2**32 - 1), st.sampled_from(["520102", "350100", "110105"]))
def test_generated_credit_codes_check_and_any_one_character_change_is_caught(seed, county):
    import numpy as np

    from ingestion.fields import credit_code_check
    from ingestion.generator.feeds.service_lists import credit_code

    code = credit_code(county, np.random.default_rng(seed))
    assert credit_code_check(code) == "valid"
    assert credit_code_check(code.lower()) == "valid"  # written in lower case, the same code
    for i in range(18):
        for ch in "0123456789ABCDEFGHJKLMNPQRTUWXY":
            if ch != code[i]:
                changed = code[:i] + ch + code[i + 1 :]
                # GB 32100's mod-31 check catches every single-character error in the first 17, and the check itself
                assert credit_code_check(changed) == "bad_check"
                break
    assert credit_code_check(code[:17]) == "wrong_form"
    assert credit_code_check(code[:17] + "I") == "wrong_form"  # I, O, S, V, Z are not in the alphabet
    assert credit_code_check("") == "empty" and credit_code_check(None) == "empty"
