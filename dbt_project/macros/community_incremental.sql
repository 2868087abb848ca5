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
    delete+insert of the touched keys' current versions. -#}
{% macro community_incremental_by_key(table, key_column) -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': key_column,
        'on_schema_change': 'fail',
        'pre_hook': "{{ zhili_delete_touched_keys('" ~ key_column ~ "', 'int_community_files_built', community_key_table('" ~ table ~ "')) }}",
    }) }}
{%- endmacro %}

{#- The one-entry map of `table` -> its key, as zhili_touched_keys takes it. -#}
{% macro community_key_table(table) -%}
    {{ return({table: community_key_tables()[table]}) }}
{%- endmacro %}

{#- `where` condition keeping the keys of `column` that new or gone files of `table` touch in an incremental
    run; true on a full build. -#}
{% macro community_key_touched(table, column) -%}
    {%- if is_incremental() -%}
        {{ column }} in ({{ zhili_touched_keys(zhili_file_tracker('int_community_files_built'), community_key_table(table)) }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
