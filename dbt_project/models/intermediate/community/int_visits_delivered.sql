{#- One row per visit (走访编号) in its current version: stg_grid_visits kept as a table incremental by visit
    (macros/community_incremental.sql), so a run reads the new files' visits and not every visit log again.
    A visit's current version is a function of its own rows in all files and of the ledger's delivery dates,
    nothing else; fct_visit joins linkage, the address points and the register on top every run. -#}
{{ config(**community_incremental_by_key('grid_visits', 'visit_id')) }}
select * from {{ ref('stg_grid_visits') }}
where {{ community_key_touched('grid_visits', 'visit_id') }}
