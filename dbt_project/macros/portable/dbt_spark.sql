{#- dbt's own cross-database and contract macros, Spark's side, where dbt-spark's answer differs from
    DuckDB's (issue 25; docs/spark.md). dbt looks for a `spark__` implementation of its `dbt` namespace in the
    root project first, so these replace dbt-spark's for this project; DuckDB's (`duckdb__`) are untouched, and
    models keep calling `dbt.dateadd`, `dbt.datediff` and declaring DuckDB's types in their contracts. -#}

{#- dbt-spark's dateadd fails on a NULL timestamp (assert_not_null: "a 12345 step not signed yet" is a NULL
    here, not an error) and drops the fraction of a second (through unix seconds). Spark's timestampadd keeps
    both. As DuckDB's date + interval, with one difference: a *date* argument gives Spark's timestamp (an
    instant, midnight in the session's China time) where DuckDB gives a timestamp without time zone; the same
    moment when compared, not the same text. -#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    {%- set units = {'microsecond': 'MICROSECOND', 'millisecond': 'MILLISECOND', 'second': 'SECOND', 'minute': 'MINUTE',
                     'hour': 'HOUR', 'day': 'DAY', 'week': 'WEEK', 'month': 'MONTH', 'quarter': 'QUARTER', 'year': 'YEAR'} -%}
    {%- if datepart | lower not in units -%}
        {{ exceptions.raise_compiler_error("dateadd on Spark: no datepart " ~ (datepart | tojson) ~ "; one of " ~ (units.keys() | join(', '))) }}
    {%- endif -%}
    timestampadd({{ units[datepart | lower] }}, {{ interval }}, {{ from_date_or_timestamp }})
{%- endmacro %}

{#- The number of `datepart` boundaries crossed from `first_date` to `second_date`, as DuckDB's datediff
    counts (10:00:59 to 10:01:00 is one minute), NULL when either is NULL. dbt-spark's rounds the seconds
    between up (or down) to whole units instead, and fails on a NULL. Boundaries of hours and finer are
    counted on the instant (the same in China's whole-hour zone); days on the dates in the session's time
    zone (China, set by the profile), as DuckDB counts a timestamptz's days in its TimeZone. -#}
{% macro spark__datediff(first_date, second_date, datepart) -%}
    {%- set micros = {'microsecond': 1, 'millisecond': 1000, 'second': 1000000, 'minute': 60000000, 'hour': 3600000000} -%}
    {%- if datepart | lower in micros -%}
        (floor(unix_micros(cast({{ second_date }} as timestamp)) / {{ micros[datepart | lower] }})
            - floor(unix_micros(cast({{ first_date }} as timestamp)) / {{ micros[datepart | lower] }}))
    {%- elif datepart | lower == 'day' -%}
        datediff(cast({{ second_date }} as date), cast({{ first_date }} as date))
    {%- else -%}
        {{ exceptions.raise_compiler_error("datediff on Spark: datepart " ~ (datepart | tojson) ~ " is not written yet (microsecond to hour, day)") }}
    {%- endif -%}
{%- endmacro %}

{#- The zero-row query whose columns dbt compares with a model's under an enforced contract: each declared
    type cast as Spark names it. The contracts declare DuckDB's types (`varchar`, `timestamp with time zone`,
    `integer`); on Spark they are `string`, `timestamp` (an instant, as DuckDB's timestamptz) and `int`. -#}
{% macro spark__get_empty_schema_sql(columns) -%}
    {%- set spark_types = {'varchar': 'string', 'text': 'string', 'timestamp with time zone': 'timestamp',
                           'timestamptz': 'timestamp', 'integer': 'int'} -%}
    {%- set mapped = {} -%}
    {%- for name, column in columns.items() -%}
        {%- set declared = column.get('data_type') -%}
        {%- set spark_type = spark_types.get((declared or '') | trim | lower, declared) -%}
        {%- set copied = {} -%}
        {%- for key, value in column.items() -%}{%- do copied.update({key: value}) -%}{%- endfor -%}
        {%- do copied.update({'data_type': spark_type}) -%}
        {%- do mapped.update({name: copied}) -%}
    {%- endfor -%}
    {{ return(default__get_empty_schema_sql(mapped)) }}
{%- endmacro %}

{#- A seed's rows on Spark. dbt-spark's own passes each value as a binding, which its session cursor pastes
    into the SQL as '<value>' unescaped: a quote in a value ends the literal (indicator_definitions: "the
    unit's active grids" fails with PARSE_SYNTAX_ERROR), and an empty cell becomes the text 'None'. Here each
    value is written as a literal of its own: text through zhili_string_literal, an empty cell as NULL,
    numbers and booleans as they are, dates and timestamps as text cast to the column's type, as before. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set types = [] -%}
    {%- for col_name in agate_table.column_names -%}
        {%- do types.append(column_override.get(col_name, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for value in row -%}
                    {%- if value is none -%}
                        {%- set literal = 'null' -%}
                    {%- elif value is boolean -%}
                        {%- set literal = 'true' if value else 'false' -%}
                    {%- elif value is number -%}
                        {%- set literal = value | string -%}
                    {%- else -%}
                        {%- set literal = zhili_string_literal(value | string) -%}
                    {%- endif -%}
                    cast({{ literal }} as {{ types[loop.index0] }})
                    {%- if not loop.last %}, {% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor -%}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.first -%}
            {%- do statements.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{% endmacro %}
