{#- A staging view's row checks in one read of it: every column in `unique` is set and unique, every column in
    `not_null` is set, and every value of a column in `accepted_values` (column: [values]) is one of its values
    (a null passes, as with dbt's accepted_values).

    A staging view is not stored: each read recomputes it over every delivered file (the latest version of each
    key, docs block latest_wins). dbt's unique, not_null and accepted_values read the model once per column and
    test, so a view with two keys was read four times a run and the history's size paid on each read; this test
    reads the columns it checks once (the engine keeps the CTE it reads more than once) and groups them.

    A failing row names the column, the problem (duplicate, null, not accepted), the value as text and how many
    rows carry it. -#}
{% test row_keys(model, unique=[], not_null=[], accepted_values={}) %}
{%- set columns = (unique + not_null + (accepted_values | list)) | unique | list -%}
{%- set checks = [] -%}
{%- for column in unique -%}
    {%- do checks.append(
        "select '" ~ column ~ "' as column_name, case when " ~ column ~ " is null then 'null' else 'duplicate' end"
        ~ " as problem, cast(" ~ column ~ " as " ~ dbt.type_string() ~ ") as value, count(*) as row_count"
        ~ " from scanned group by " ~ column ~ " having count(*) > 1 or " ~ column ~ " is null"
    ) -%}
{%- endfor -%}
{%- for column in not_null if column not in unique -%}
    {%- do checks.append(
        "select '" ~ column ~ "' as column_name, 'null' as problem, cast(null as " ~ dbt.type_string() ~ ") as value,"
        ~ " count(*) as row_count from scanned where " ~ column ~ " is null having count(*) > 0"
    ) -%}
{%- endfor -%}
{%- for column, values in accepted_values.items() -%}
    {%- set listed = [] -%}
    {%- for value in values -%}{%- do listed.append("'" ~ value ~ "'") -%}{%- endfor -%}
    {%- do checks.append(
        "select '" ~ column ~ "' as column_name, 'not accepted' as problem, cast(" ~ column ~ " as "
        ~ dbt.type_string() ~ ") as value, count(*) as row_count from scanned where " ~ column
        ~ " not in (" ~ listed | join(", ") ~ ") group by " ~ column
    ) -%}
{%- endfor -%}
with scanned as (
    select {{ columns | join(', ') }}
    from {{ model }}
)

{{ checks | join('\nunion all\n') }}
{% endtest %}
