{#- The register snapshots that carry household columns, numbered: one row per such snapshot date, with the
    snapshot before and after it. A membership run is consecutive numbers (int_household_memberships_spanned),
    and a new 户号 is judged against the snapshot before its first (int_household_lineage).

    Read from the versions, not from every week's rows: a household version covers the snapshots from its
    valid_from up to (not including) its valid_to (a key absent from a snapshot has no version valid on its
    date), so a snapshot carries household columns when at least one household version covers it. The dates
    are the key index's (every loaded snapshot, also one that changed nothing). -#}
with

snapshot_dates as (
    select distinct data_date as snapshot_date
    from {{ source('versions', 'police_population_keys') }}
),

household_versions as (
    select valid_from, valid_to
    from {{ ref('stg_police_population_versions') }}
    where household_key is not null
        and source_person_id is not null
),

-- how many household versions begin (+) and end (-) on each date
edges as (
    select edge_date, sum(delta) as delta
    from (
        select valid_from as edge_date, count(*) as delta
        from household_versions
        group by valid_from
        union all
        select valid_to as edge_date, -count(*) as delta
        from household_versions
        where valid_to is not null
        group by valid_to
    ) as both_ends
    group by edge_date
),

covered as (
    select
        snapshot_dates.snapshot_date,
        sum(coalesce(edges.delta, 0)) over (
            order by snapshot_dates.snapshot_date rows between unbounded preceding and current row
        ) as household_versions_listed
    from snapshot_dates
    left join edges
        on snapshot_dates.snapshot_date = edges.edge_date
),

final as (
    select
        snapshot_date,
        row_number() over (order by snapshot_date) as snapshot_no,
        lag(snapshot_date) over (order by snapshot_date) as previous_snapshot_date,
        lead(snapshot_date) over (order by snapshot_date) as next_snapshot_date
    from covered
    where household_versions_listed > 0
)

select * from final
