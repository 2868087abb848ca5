{#- The 12345 facts are incremental by order: an order's steps come in their own GDLZ files, a day late
    or resent, and its current GD row in any later file, so a new or withdrawn file of either table
    touches its orders, and every touched order is recomputed from all its rows in all files.
    int_hotline_files_built records which files the keyed models have built in. -#}

{#- normalised table -> the order key its rows carry -#}
{% macro hotline_order_tables() -%}
    {{ return({'hotline_orders': 'order_id', 'hotline_steps': 'order_id'}) }}
{%- endmacro %}

{#- A select of the order ids (touched_key) that files new since the last build, or gone, touch. -#}
{% macro hotline_touched_orders() -%}
    {{ zhili_touched_keys(zhili_file_tracker('int_hotline_files_built'), hotline_order_tables()) }}
{%- endmacro %}

{#- The config of a model incremental by 12345 order: a delete of the touched orders first (an order
    whose steps all went goes too), then delete+insert of the touched orders recomputed (on Spark, for now,
    a table rebuilt each run: zhili_incremental_config). -#}
{% macro hotline_incremental_by_order() -%}
    {{ return(zhili_incremental_config({
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': 'order_id',
        'on_schema_change': 'fail',
        'pre_hook': "{{ zhili_delete_touched_keys('order_id', 'int_hotline_files_built', hotline_order_tables()) }}",
    })) }}
{%- endmacro %}

{#- `where` condition keeping the touched orders of `column` in an incremental run; true on a full build.
    A literal list of the orders (zhili_key_in_touched): the staging models' version ranking then sees only
    the touched orders' rows. -#}
{% macro hotline_order_touched(column='order_id') -%}
    {%- if is_incremental() -%}
        {{ zhili_key_in_touched(column, 'int_hotline_files_built', hotline_order_tables()) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The incident hub (int_incidents_unioned) is incremental by incident_key: normalised table -> the
    incident key its rows carry (12345 steps touch their order's incident: status and close come from the
    replayed lifecycle). -#}
{% macro incident_key_tables() -%}
    {{ return({
        'police_incidents': dbt.concat(["'police_incidents:'", 'incident_id']),
        'petitions': dbt.concat(["'petitions:'", 'case_id']),
        'grid_events': dbt.concat(["'grid_events:'", 'event_id']),
        'hotline_orders': dbt.concat(["'hotline_orders:'", 'order_id']),
        'hotline_steps': dbt.concat(["'hotline_orders:'", 'order_id']),
    }) }}
{%- endmacro %}

{#- A select of the incident keys that new or withdrawn files touch. -#}
{% macro incidents_touched() -%}
    {{ zhili_touched_keys(zhili_file_tracker('int_incident_files_built'), incident_key_tables()) }}
{%- endmacro %}

{#- The pre-hook of int_incidents_unioned: delete the incidents to recompute, those the files touch and
    every petition placed (or left) by its community alone (placement_method petitioner_home or
    community_name): its grid comes from where its petitioners live (register, linkage, grid registry),
    which any run may change, so the model recomputes each of them every run. -#}
{% macro incidents_delete_touched() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where incident_key in ({{ incidents_touched() }})
            or (source_feed = 'petitions' and placement_method in ('community_name', 'petitioner_home'))
    {%- endif -%}
{%- endmacro %}

{#- `where` condition keeping the touched incidents (`key_sql`: the incident key) in an incremental run. -#}
{% macro incident_touched(key_sql) -%}
    {%- if is_incremental() -%}
        {{ key_sql }} in ({{ incidents_touched() }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
