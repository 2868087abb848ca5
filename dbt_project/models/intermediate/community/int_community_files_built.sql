{#- Which community files the models incremental by key have built in: one row per (normalised table,
    file md5, key) of every grid_visits, service_lists and credit_points file. It runs after those models
    (depends_on below) and they read it through adapter.get_relation, not ref(): a file it does not list yet
    is new to them, and the keys of a file it lists but the zone no longer has were touched by a withdrawal.
    Itself incremental by file (zhili_file_tracker_rows), as int_hotline_files_built; on Spark a table rebuilt
    each run (zhili_incremental_config). -#}
-- depends_on: {{ ref('int_visits_delivered') }}
-- depends_on: {{ ref('int_service_needs_delivered') }}
-- depends_on: {{ ref('int_credit_entries_delivered') }}
{{ config(**zhili_incremental_config({
    'materialized': 'incremental',
    'incremental_strategy': 'append',
    'on_schema_change': 'fail',
    'pre_hook': zhili_file_tracker_hooks(community_key_tables()),
})) }}
{{ zhili_file_tracker_rows(community_key_tables()) }}
