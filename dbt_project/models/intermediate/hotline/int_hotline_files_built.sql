{#- Which 12345 files the models incremental by order have built in: one row per (normalised table,
    file md5, order id) of every hotline_orders and hotline_steps file. It runs after those models
    (depends_on below) and they read it through adapter.get_relation, not ref(): a file it does not list
    yet is new to them, and the orders a file it lists but the zone no longer has were touched by a
    withdrawal. A run that fails before it leaves it behind, and the next run recomputes those orders
    again (delete+insert: the same result). Itself incremental by file (zhili_file_tracker_rows); on Spark a
    table rebuilt each run, as the models it tracks (zhili_incremental_config). -#}
-- depends_on: {{ ref('int_hotline_steps_sequenced') }}
-- depends_on: {{ ref('int_hotline_orders_replayed') }}
-- depends_on: {{ ref('fct_hotline_step') }}
{{ config(**zhili_incremental_config({
    'materialized': 'incremental',
    'incremental_strategy': 'append',
    'on_schema_change': 'fail',
    'pre_hook': zhili_file_tracker_hooks(hotline_order_tables()),
})) }}
{{ zhili_file_tracker_rows(hotline_order_tables()) }}
