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
