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
    whose steps all went goes too), then delete+insert of the touched orders recomputed. -#}
{% macro hotline_incremental_by_order() -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': 'order_id',
        'on_schema_change': 'fail',
        'pre_hook': "{{ zhili_delete_touched_keys('order_id', 'int_hotline_files_built', hotline_order_tables()) }}",
    }) }}
{%- endmacro %}

{#- `where` condition keeping the touched orders of `column` in an incremental run; true on a full build. -#}
{% macro hotline_order_touched(column='order_id') -%}
    {%- if is_incremental() -%}
        {{ column }} in ({{ hotline_touched_orders() }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
