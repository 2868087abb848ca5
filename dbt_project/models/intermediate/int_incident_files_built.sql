{#- Which files of the incident feeds int_incidents_unioned has built in: one row per (normalised table,
    file md5, incident key) of every police_incidents, petitions, grid_events, hotline_orders and
    hotline_steps file. It runs after that model (depends_on below), which reads it through
    adapter.get_relation, not ref(): a file it does not list yet is new, and the incidents of a file it
    lists but the zone no longer has were touched by a withdrawal. A run that fails before it leaves it
    behind, and the next run recomputes those incidents again (delete+insert: the same result). On Spark a
    table rebuilt each run, as int_incidents_unioned (zhili_incremental_config). -#}
-- depends_on: {{ ref('int_incidents_unioned') }}
{{ config(**zhili_incremental_config({
    'materialized': 'incremental',
    'incremental_strategy': 'append',
    'on_schema_change': 'fail',
    'pre_hook': zhili_file_tracker_hooks(incident_key_tables()),
})) }}
{{ zhili_file_tracker_rows(incident_key_tables()) }}
