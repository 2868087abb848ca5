{#- Engine-portable spellings of the DuckDB-only expressions the models use most (issue 25; docs/spark.md).

    Each macro dispatches on the adapter: `default__` is DuckDB's spelling, unchanged, so a model moved onto a
    macro builds the same DuckDB SQL as before; `spark__` is Spark's, with the same answer, including where
    the obvious Spark function answers differently (max_by and NULL values). The lint
    (`python -m orchestration.lib.sql_portability`) names what is still spelled DuckDB's way in a model.
    Already portable, no macro needed: `{{ dbt.datediff(first, second, 'day') }}` for datediff('day', …),
    `string` for varchar (an alias on DuckDB), `{{ dbt.type_timestamp() }}`. -#}

{#- The value of `arg` on the row with the greatest `val`, among rows where both are not NULL (DuckDB's
    arg_max). Spark's max_by would take the row with the greatest `val` even when its `arg` is NULL, and
    answer NULL: a silent difference, so the rows with a NULL `arg` are taken out of the ordering. -#}
{% macro zhili_arg_max(arg, val) -%}
    {{ return(adapter.dispatch('zhili_arg_max', 'zhili')(arg, val)) }}
{%- endmacro %}

{% macro default__zhili_arg_max(arg, val) -%}
    arg_max({{ arg }}, {{ val }})
{%- endmacro %}

{% macro spark__zhili_arg_max(arg, val) -%}
    max_by({{ arg }}, case when {{ arg }} is not null then {{ val }} end)
{%- endmacro %}

{#- As zhili_arg_max, the row with the least `val`. -#}
{% macro zhili_arg_min(arg, val) -%}
    {{ return(adapter.dispatch('zhili_arg_min', 'zhili')(arg, val)) }}
{%- endmacro %}

{% macro default__zhili_arg_min(arg, val) -%}
    arg_min({{ arg }}, {{ val }})
{%- endmacro %}

{% macro spark__zhili_arg_min(arg, val) -%}
    min_by({{ arg }}, case when {{ arg }} is not null then {{ val }} end)
{%- endmacro %}

{#- The non-NULL values of `expr` joined by `sep` in the order `order_by` (a SQL order list), each value
    once when `distinct` (then `order_by` must be `expr` itself, on both engines). NULL over no values. -#}
{% macro zhili_string_agg(expr, sep, order_by, distinct=false) -%}
    {{ return(adapter.dispatch('zhili_string_agg', 'zhili')(expr, sep, order_by, distinct)) }}
{%- endmacro %}

{% macro default__zhili_string_agg(expr, sep, order_by, distinct) -%}
    string_agg({{ 'distinct ' if distinct }}{{ expr }}, {{ sep }} order by {{ order_by }})
{%- endmacro %}

{% macro spark__zhili_string_agg(expr, sep, order_by, distinct) -%}
    string_agg({{ 'distinct ' if distinct }}{{ expr }}, {{ sep }}) within group (order by {{ order_by }})
{%- endmacro %}

{#- `expr` (a date or timestamp) as text in `format`, written as strftime's: %Y %m %d %H %M %S and any other
    character but a Latin letter (or ' [ ] { } #) as it is (DuckDB's strftime; Spark's date_format with the pattern translated,
    where a Latin letter is a field, so a format with one is refused rather than mistranslated). -#}
{% macro zhili_format_date(expr, format) -%}
    {{ return(adapter.dispatch('zhili_format_date', 'zhili')(expr, format)) }}
{%- endmacro %}

{% macro default__zhili_format_date(expr, format) -%}
    strftime({{ expr }}, '{{ format }}')
{%- endmacro %}

{% macro spark__zhili_format_date(expr, format) -%}
    {%- set codes = {'%Y': 'yyyy', '%m': 'MM', '%d': 'dd', '%H': 'HH', '%M': 'mm', '%S': 'ss'} -%}
    {%- set ns = namespace(out='', i=0) -%}
    {%- for _ in range(format | length) -%}
        {%- set pair = format[ns.i:ns.i + 2] -%}
        {%- if ns.i >= (format | length) -%}
        {%- elif pair in codes -%}
            {%- set ns.out = ns.out ~ codes[pair] -%}
            {%- set ns.i = ns.i + 2 -%}
        {%- elif format[ns.i] == '%' or format[ns.i] in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'[]{}#" -%}
            {{ exceptions.raise_compiler_error("zhili_format_date: '" ~ format ~ "' has " ~ format[ns.i:ns.i + 2] ~ ", which has no Spark pattern here") }}
        {%- else -%}
            {%- set ns.out = ns.out ~ format[ns.i] -%}
            {%- set ns.i = ns.i + 1 -%}
        {%- endif -%}
    {%- endfor -%}
    date_format({{ expr }}, '{{ ns.out }}')
{%- endmacro %}

{#- Whether `value` contains a match of the regular expression `pattern` (a SQL string literal). -#}
{% macro zhili_regexp_matches(value, pattern) -%}
    {{ return(adapter.dispatch('zhili_regexp_matches', 'zhili')(value, pattern)) }}
{%- endmacro %}

{% macro default__zhili_regexp_matches(value, pattern) -%}
    regexp_matches({{ value }}, {{ pattern }})
{%- endmacro %}

{% macro spark__zhili_regexp_matches(value, pattern) -%}
    regexp_like({{ value }}, {{ pattern }})
{%- endmacro %}

{#- The calendar date in China of `expr`, a timestamp with time zone. DuckDB converts to Asia/Shanghai's wall
    clock; Spark's timestamps are instants and its cast to date takes the session time zone, which the
    profile's spark target sets to Asia/Shanghai. -#}
{% macro zhili_local_date(expr) -%}
    {{ return(adapter.dispatch('zhili_local_date', 'zhili')(expr)) }}
{%- endmacro %}

{% macro default__zhili_local_date(expr) -%}
    cast(timezone('Asia/Shanghai', {{ expr }}) as date)
{%- endmacro %}

{% macro spark__zhili_local_date(expr) -%}
    cast({{ expr }} as date)
{%- endmacro %}

{#- A timestamp with time zone as text, as DuckDB casts it in the session's zone: '2024-01-01 10:00:00.12+08'
    (fraction without trailing zeros, the offset's hours, and minutes only when not whole). Spark's cast prints
    the same wall clock without the offset, so its offset is added (pattern `x`: +08, +0530). Keys hashed
    from such text (stg_ledger's ledger_key, stg_hotline_steps' step_key) are then the same on both engines
    for whole-hour offsets (China's). -#}
{% macro zhili_timestamp_text(expr) -%}
    {{ return(adapter.dispatch('zhili_timestamp_text', 'zhili')(expr)) }}
{%- endmacro %}

{% macro default__zhili_timestamp_text(expr) -%}
    cast({{ expr }} as {{ dbt.type_string() }})
{%- endmacro %}

{% macro spark__zhili_timestamp_text(expr) -%}
    {{ dbt.concat(["cast(" ~ expr ~ " as string)", "date_format(" ~ expr ~ ", 'x')"]) }}
{%- endmacro %}

{#- Every column of `relation` but those named in `except`, qualified by `qualifier` when given (DuckDB's
    `* exclude (…)`). `relation` is what the columns are read from on Spark (a ref, a source, or a
    parenthesised select): Spark has no star with exceptions, so the columns are listed, in the relation's
    order, from a zero-row query when the model runs. A name in `except` that the relation lacks fails there,
    as DuckDB's exclude does. -#}
{% macro zhili_star_except(relation, except, qualifier=none) -%}
    {{ return(adapter.dispatch('zhili_star_except', 'zhili')(relation, except, qualifier)) }}
{%- endmacro %}

{% macro default__zhili_star_except(relation, except, qualifier) -%}
    {{ qualifier ~ '.' if qualifier }}* exclude ({{ except | join(', ') }})
{%- endmacro %}

{% macro spark__zhili_star_except(relation, except, qualifier) -%}
    {%- if not execute -%}
        {{ return('*') }}
    {%- endif -%}
    {%- set columns = run_query('select * from ' ~ relation ~ ' limit 0').column_names -%}
    {%- set lowered = columns | map('lower') | list -%}
    {%- for name in except if name | lower not in lowered -%}
        {{ exceptions.raise_compiler_error(
            "zhili_star_except: " ~ (name | tojson) ~ " is not a column of " ~ relation ~ ": " ~ (columns | join(', '))
        ) }}
    {%- endfor -%}
    {%- set kept = [] -%}
    {%- for name in columns if name | lower not in (except | map('lower') | list) -%}
        {%- do kept.append((qualifier ~ '.' if qualifier else '') ~ name) -%}
    {%- endfor -%}
    {{ kept | join(', ') }}
{%- endmacro %}

{#- The last non-NULL value of `expr` in a window frame (write `over (…)` after the macro): DuckDB's
    `last_value(expr ignore nulls)` (DuckDB takes the option only inside the parentheses), Spark's
    `last_value(expr, true)` (Spark takes it only after them, or as this second argument). -#}
{% macro zhili_last_value_ignore_nulls(expr) -%}
    {{ return(adapter.dispatch('zhili_last_value_ignore_nulls', 'zhili')(expr)) }}
{%- endmacro %}

{% macro default__zhili_last_value_ignore_nulls(expr) -%}
    last_value({{ expr }} ignore nulls)
{%- endmacro %}

{% macro spark__zhili_last_value_ignore_nulls(expr) -%}
    last_value({{ expr }}, true)
{%- endmacro %}

{#- The config of an incremental model, for this engine: on DuckDB `config` unchanged. On Spark, Parquet
    tables can neither `delete` (the pre-hooks of zhili_delete_touched_keys / zhili_delete_gone_files) nor
    `merge` (delete+insert), so until the incremental models move to partition overwrite the model is a
    table, rebuilt in full each run: the same rows (an incremental model here recomputes what the files
    touch, so that equals a rebuild by design), without the saving. `is_incremental()` is then false, so the
    models' touched-key filters read `true`. -#}
{% macro zhili_incremental_config(config) -%}
    {{ return(adapter.dispatch('zhili_incremental_config', 'zhili')(config)) }}
{%- endmacro %}

{% macro default__zhili_incremental_config(config) -%}
    {{ return(config) }}
{%- endmacro %}

{% macro spark__zhili_incremental_config(config) -%}
    {%- set incremental_only = ['incremental_strategy', 'unique_key', 'on_schema_change', 'pre_hook', 'post_hook'] -%}
    {%- set kept = {'materialized': 'table'} -%}
    {%- for name, value in config.items() if name not in incremental_only and name != 'materialized' -%}
        {%- do kept.update({name: value}) -%}
    {%- endfor -%}
    {{ return(kept) }}
{%- endmacro %}

{#- Spark's split takes a regular expression: `sep` (a SQL string literal of plain characters) as a literal
    with each character in a class of its own (';' -> '[;]'), after checking it is such a literal; `name` is the
    macro the error names. Shared by the Spark zhili_split_* macros. -#}
{% macro zhili_spark_split_pattern(name, sep) -%}
    {%- set chars = sep.strip()[1:-1] -%}
    {%- if not sep.strip().startswith("'") or not sep.strip().endswith("'") or not chars
            or "'" in chars or '\\' in chars or ']' in chars or '^' in chars -%}
        {{ exceptions.raise_compiler_error(name ~ ": sep=" ~ (sep | tojson) ~ " should be a string literal of plain characters (no quote, backslash, ] or ^)") }}
    {%- endif -%}
    {%- set pattern = namespace(text='') -%}
    {%- for c in chars -%}{%- set pattern.text = pattern.text ~ '[' ~ c ~ ']' -%}{%- endfor -%}
    {{ return("'" ~ pattern.text ~ "'") }}
{%- endmacro %}

{#- How many parts `expr` has when split at each `sep` (a SQL string literal of plain characters), empty
    parts counted ('a;;b' has 3, 'a;' has 2): DuckDB's len(string_split(…)). Spark's split takes a regular
    expression, so each character of `sep` is put in a class of its own ('[;]'); NULL for a NULL `expr`. -#}
{% macro zhili_split_count(expr, sep) -%}
    {{ return(adapter.dispatch('zhili_split_count', 'zhili')(expr, sep)) }}
{%- endmacro %}

{% macro default__zhili_split_count(expr, sep) -%}
    len(string_split({{ expr }}, {{ sep }}))
{%- endmacro %}

{% macro spark__zhili_split_count(expr, sep) -%}
    cast(size(split({{ expr }}, {{ zhili_spark_split_pattern('zhili_split_count', sep) }}, -1)) as bigint)
{%- endmacro %}

{#- A struct of the columns named in `names` (a list), each field named as its column: DuckDB's
    `{'a': a, 'b': b}`, Spark's `named_struct('a', a, 'b', b)`. Read a field back as `alias.struct.field` on
    both engines. -#}
{% macro zhili_struct(names) -%}
    {{ return(adapter.dispatch('zhili_struct', 'zhili')(names)) }}
{%- endmacro %}

{% macro default__zhili_struct(names) -%}
    { {%- for name in names %}'{{ name }}': {{ name }}{{ ', ' if not loop.last }}{% endfor -%} }
{%- endmacro %}

{% macro spark__zhili_struct(names) -%}
    named_struct({%- for name in names %}'{{ name }}', {{ name }}{{ ', ' if not loop.last }}{% endfor -%})
{%- endmacro %}

{#- The value of `arg` on the row greatest by the list of expressions `keys`, compared in order (the first
    that differs decides), among rows where `arg` is not NULL: DuckDB's `arg_max(arg, (k1, k2, …))`, whose
    tuple comparison takes a NULL key as greater than any value. Spark's structs compare a NULL field as the
    least, so each key becomes the pair (`key is null`, key): a NULL then ranks above every value, as on
    DuckDB. Give a last key that is unique per row (a locator) where ties must not follow row order. -#}
{% macro zhili_arg_max_tuple(arg, keys) -%}
    {{ return(adapter.dispatch('zhili_arg_max_tuple', 'zhili')(arg, keys)) }}
{%- endmacro %}

{% macro default__zhili_arg_max_tuple(arg, keys) -%}
    arg_max({{ arg }}, ({{ keys | join(', ') }}))
{%- endmacro %}

{% macro spark__zhili_arg_max_tuple(arg, keys) -%}
    max_by({{ arg }}, case when {{ arg }} is not null then struct(
        {%- for key in keys %}{{ key }} is null, {{ key }}{{ ', ' if not loop.last }}{% endfor -%}
    ) end)
{%- endmacro %}

{#- Whether the text `value` ends with the text `suffix` (NULL when either is): DuckDB's ends_with, Spark's
    endswith. -#}
{% macro zhili_ends_with(value, suffix) -%}
    {{ return(adapter.dispatch('zhili_ends_with', 'zhili')(value, suffix)) }}
{%- endmacro %}

{% macro default__zhili_ends_with(value, suffix) -%}
    ends_with({{ value }}, {{ suffix }})
{%- endmacro %}

{% macro spark__zhili_ends_with(value, suffix) -%}
    endswith({{ value }}, {{ suffix }})
{%- endmacro %}

{#- One row per day from `start` to `end`, both included, as dates: a set-returning expression for a select
    list (`select {{ zhili_date_series('a', 'b') }} as day from …`); no row when `end` is before `start` or
    either is NULL. DuckDB's unnest(generate_series(…)); Spark's explode(sequence(…)), which would fail on
    an end before the start, so such a pair gives a NULL array (no row), as DuckDB's empty list does. -#}
{% macro zhili_date_series(start, end) -%}
    {{ return(adapter.dispatch('zhili_date_series', 'zhili')(start, end)) }}
{%- endmacro %}

{% macro default__zhili_date_series(start, end) -%}
    cast(unnest(generate_series({{ start }}, {{ end }}, interval 1 day)) as date)
{%- endmacro %}

{% macro spark__zhili_date_series(start, end) -%}
    explode(case when cast({{ start }} as date) <= cast({{ end }} as date)
        then sequence(cast({{ start }} as date), cast({{ end }} as date), interval 1 day) end)
{%- endmacro %}

{#- The most frequent non-NULL value of `expr` (NULL over none), the least of them where several are equally
    frequent. DuckDB's plain `mode` takes the first of the tied values it meets, so its answer follows row
    order; ordered by the value it takes the least. Spark's `mode(expr, true)` is documented to answer the
    lowest tied value. -#}
{% macro zhili_mode(expr) -%}
    {{ return(adapter.dispatch('zhili_mode', 'zhili')(expr)) }}
{%- endmacro %}

{% macro default__zhili_mode(expr) -%}
    mode({{ expr }} order by {{ expr }})
{%- endmacro %}

{% macro spark__zhili_mode(expr) -%}
    mode({{ expr }}, true)
{%- endmacro %}

{#- Whether `value` is one of the parts of `expr` split at each `sep` (a SQL string literal of plain
    characters): DuckDB's list_contains(string_split(…), …); Spark's split takes a regular expression, so `sep`
    becomes a class per character, as in zhili_split_count. NULL for a NULL `expr`. -#}
{% macro zhili_split_contains(expr, sep, value) -%}
    {{ return(adapter.dispatch('zhili_split_contains', 'zhili')(expr, sep, value)) }}
{%- endmacro %}

{% macro default__zhili_split_contains(expr, sep, value) -%}
    list_contains(string_split({{ expr }}, {{ sep }}), {{ value }})
{%- endmacro %}

{% macro spark__zhili_split_contains(expr, sep, value) -%}
    array_contains(split({{ expr }}, {{ zhili_spark_split_pattern('zhili_split_contains', sep) }}, -1), {{ value }})
{%- endmacro %}

{#- One row per part of `expr` split at each `sep` (a SQL string literal of plain characters), as a select-list
    expression (no row for a NULL `expr`): DuckDB's unnest(string_split(…)), Spark's explode(split(…)) with
    `sep` as a class per character, as in zhili_split_count. -#}
{% macro zhili_split_rows(expr, sep) -%}
    {{ return(adapter.dispatch('zhili_split_rows', 'zhili')(expr, sep)) }}
{%- endmacro %}

{% macro default__zhili_split_rows(expr, sep) -%}
    unnest(string_split({{ expr }}, {{ sep }}))
{%- endmacro %}

{% macro spark__zhili_split_rows(expr, sep) -%}
    explode(split({{ expr }}, {{ zhili_spark_split_pattern('zhili_split_rows', sep) }}, -1))
{%- endmacro %}

{#- `text` (a Python string, known when the SQL is rendered) as a SQL expression of that exact text. DuckDB
    doubles a quote. Spark's lexer reads `\'` as a quote inside the literal and the profile keeps a backslash
    as it is (spark.sql.parser.escapedStringLiterals), so neither a doubled quote nor a backslash escape
    spells a quote there: the text is cut at each quote and backslash and joined again with chr(39) and
    chr(92). -#}
{% macro zhili_string_literal(text) -%}
    {{ return(adapter.dispatch('zhili_string_literal', 'zhili')(text)) }}
{%- endmacro %}

{% macro default__zhili_string_literal(text) -%}
    '{{ text | replace("'", "''") }}'
{%- endmacro %}

{% macro spark__zhili_string_literal(text) -%}
    {%- if "'" in text or "\\" in text -%}
        {%- set pieces = [] -%}
        {%- for piece in text.split("'") -%}
            {%- do pieces.append(piece | replace("\\", "', chr(92), '")) -%}
        {%- endfor -%}
        concat('{{ pieces | join("', chr(39), '") }}')
    {%- else -%}
        '{{ text }}'
    {%- endif -%}
{%- endmacro %}

{#- ln(n!) for an integer `n` >= 0 (DuckDB's lgamma(n + 1)). Spark has no lgamma: its side calls
    commons-math3's CombinatoricsUtils.factorialLog (the log of the exact n! below 21, logGamma(n + 1) above),
    a jar Spark itself ships, so it is on every Spark classpath; Spark's reflect answers text, which
    Java writes so that it reads back as the same double. The two agree to a few units in the last place
    (ln(999!): 5905.220423209181 on DuckDB, …189 on Spark), not bit for bit. -#}
{% macro zhili_ln_factorial(n) -%}
    {{ return(adapter.dispatch('zhili_ln_factorial', 'zhili')(n)) }}
{%- endmacro %}

{% macro default__zhili_ln_factorial(n) -%}
    lgamma({{ n }} + 1)
{%- endmacro %}

{% macro spark__zhili_ln_factorial(n) -%}
    cast(reflect('org.apache.commons.math3.util.CombinatoricsUtils', 'factorialLog', cast({{ n }} as int)) as double)
{%- endmacro %}

{#- Some non-NULL value of `expr` in the group (NULL only when every value is): DuckDB's any_value, which skips
    NULL values. Spark's any_value(expr) may answer a NULL beside non-NULL values; its second argument
    (ignoreNulls) skips them. Which of several different non-NULL values is answered is up to each engine: take
    it over values that are the same across the group. -#}
{% macro zhili_any_value(expr) -%}
    {{ return(adapter.dispatch('zhili_any_value', 'zhili')(expr)) }}
{%- endmacro %}

{% macro default__zhili_any_value(expr) -%}
    any_value({{ expr }})
{%- endmacro %}

{% macro spark__zhili_any_value(expr) -%}
    any_value({{ expr }}, true)
{%- endmacro %}
