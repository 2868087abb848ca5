{#- One row per need (需求编号) in its current version: stg_service_needs kept as a table incremental by
    need (macros/community_incremental.sql): a need's current version is a function of its own rows in all
    files and the ledger's delivery dates. fct_service_need judges it (as-of date, households, resources). -#}
{{ config(**community_incremental_by_key('service_lists', 'need_id')) }}
select * from {{ ref('stg_service_needs') }}
where {{ community_key_touched('service_lists', 'need_id') }}
