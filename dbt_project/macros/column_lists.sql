{#- Column groups that several models pass through unchanged. Listing them
    once keeps staging, restricted_person_records, int_persons_resolved and
    person_source_links in step when a group gains a column, and keeps the
    order the same everywhere (contracts and BI column lists rely on it).
    Each renders one `column,` per line (trailing commas, as our SQL does),
    optionally qualified by `relation`; `exclude` drops named columns and
    must name columns of the group, so a typo fails the compile instead of
    silently keeping a column. -#}

{#- Where a record was placed (ingestion.placement): its address point, the
    grid/community/street it falls in, and how that was decided. -#}
{% macro placement_columns(relation=none, exclude=[], last_comma=true) -%}
    {{ zhili_column_list(
        'placement_columns',
        ['address_code', 'grid_code', 'community_code', 'street_code', 'placement_method'],
        relation,
        exclude,
        last_comma,
    ) }}
{%- endmacro %}

{#- The record locator (docs block src_normalised): the delivered file and
    the record's place in it; `record_locator()` joins the same parts into
    one text key. CSV feeds have no sheet. -#}
{% macro locator_columns(relation=none, exclude=[], last_comma=true) -%}
    {{ zhili_column_list(
        'locator_columns',
        ['feed', 'file', 'file_md5', 'sheet', 'record_no', 'member_no'],
        relation,
        exclude,
        last_comma,
    ) }}
{%- endmacro %}

{#- last_comma=false leaves the comma off the last column, for a list that ends a select (Spark rejects a
    comma before FROM). -#}
{% macro zhili_column_list(group, columns, relation, exclude, last_comma=true) -%}
    {%- for name in exclude if name not in columns -%}
        {{ exceptions.raise_compiler_error(
            group ~ ": exclude=" ~ (exclude | tojson) ~ " names " ~ (name | tojson)
            ~ ", which is not in the group; expected some of " ~ (columns | join(', '))
        ) }}
    {%- endfor -%}
    {%- set rendered = [] -%}
    {%- for name in columns if name not in exclude -%}
        {%- do rendered.append((relation ~ '.' if relation else '') ~ name ~ ',') -%}
    {%- endfor -%}
    {{ (rendered | join('\n        '))[:-1] if not last_comma and rendered else rendered | join('\n        ') }}
{%- endmacro %}
