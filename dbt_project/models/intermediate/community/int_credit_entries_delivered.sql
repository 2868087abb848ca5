{#- One row per points entry (流水号) in its current version: stg_credit_entries kept as a table incremental
    by entry (macros/community_incremental.sql): an entry's current version is a function of its own rows in
    all files and the ledger's delivery dates. fct_credit_entry adds linkage's person keys, the item in force
    and the register's departures on top. -#}
{{ config(**community_incremental_by_key('credit_points', 'entry_id')) }}
select * from {{ ref('stg_credit_entries') }}
where {{ community_key_touched('credit_points', 'entry_id') }}
