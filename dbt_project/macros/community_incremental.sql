{#- The community feeds' growing record tables (issue 23) are kept incremental by key: a visit (走访编号),
    a need (需求编号) and a points entry (流水号) each have versions that a later file resends or corrects,
    so a new or withdrawn file touches its keys, and every touched key's current version is chosen again
    from all its rows in all files (the staging model's latest_wins). int_community_files_built records
    which files these models have built in (macros/incremental_files.sql does the listing and reading).
    What linkage, the registers or the as-of date decide is joined on top, in the marts, every run. -#}

{#- normalised table -> the key its rows carry (only the rows of the kind the model keeps) -#}
{% macro community_key_tables() -%}
    {{ return({
        'grid_visits': 'visit_id',
        'service_lists': "case when list_kind = 'need' then need_id end",
        'credit_points': "case when record_kind = 'entry' then entry_id end",
    }) }}
{%- endmacro %}

{#- The config of a model incremental by the key of one community table (`table`, a key of
    community_key_tables): a delete of the touched keys first (a key whose rows all went goes too), then
    delete+insert of the touched keys' current versions (on Spark, for now, a table rebuilt each run:
    zhili_incremental_config). -#}
{% macro community_incremental_by_key(table, key_column) -%}
    {{ return(zhili_incremental_config({
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': key_column,
        'on_schema_change': 'fail',
        'pre_hook': "{{ zhili_delete_touched_keys('" ~ key_column ~ "', 'int_community_files_built', community_key_table('" ~ table ~ "')) }}",
    })) }}
{%- endmacro %}

{#- The one-entry map of `table` -> its key, as zhili_touched_keys takes it. -#}
{% macro community_key_table(table) -%}
    {{ return({table: community_key_tables()[table]}) }}
{%- endmacro %}

{#- `where` condition keeping the keys of `column` that new or gone files of `table` touch in an incremental
    run; true on a full build. -#}
{% macro community_key_touched(table, column) -%}
    {%- if is_incremental() -%}
        {{ zhili_key_in_touched(column, 'int_community_files_built', community_key_table(table)) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- `column in (...)`: the keys new or withdrawn files touch (zhili_touched_keys on `tracker_name`, `tables`),
    queried when the model runs and written into its SQL as a literal list. A literal list lets the engine
    push the condition below the staging model's latest_wins window down to the Parquet scan, so only the
    touched keys' versions are ranked; a subquery is joined only after the window has ranked every version
    of every key in every file (DuckDB 2.0's plan). Past `limit` keys (a tracker lost: every key touched)
    the subquery form is kept: a list that long would rank nearly everything anyway. -#}
{% macro zhili_key_in_touched(column, tracker_name, tables, limit=200000) -%}
    {%- set touched = zhili_touched_keys(zhili_file_tracker(tracker_name), tables) -%}
    {%- if not execute -%}
        {{ column }} in ({{ touched }})
    {%- else -%}
        {%- set keys = run_query("select distinct touched_key from (" ~ touched ~ ") as touched where touched_key is not null order by 1 limit " ~ (limit + 1)).columns[0].values() | list -%}
        {%- if keys | length > limit -%}
        {{ column }} in ({{ touched }})
        {%- elif keys | length == 0 -%}
        false /* no touched_key: no new or withdrawn file carries one */
        {%- else -%}
        /* touched_key: {{ keys | length }} keys of new or withdrawn files */ {{ column }} in (
            {%- for k in keys %}'{{ k | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor -%}
        )
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
