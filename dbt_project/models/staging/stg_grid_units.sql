{#- The register is a full snapshot that also lists retired grids; history is
    kept: each grid's row comes from the latest snapshot that lists it, so a
    grid dropped from a later snapshot still owns its past events. -#}
with

source as (
    select * from {{ source('normalised', 'grid_units') }}
),

latest_listing as (
    {{ snapshot_rows('source', 'grid_code', keep='latest_listing') }}
),

final as (
    select
        -- ids
        grid_code,
        grid_name,
        grid_type,
        -- hierarchy
        community_code,
        community_name,
        street_code,
        street_name,
        county_code,
        county_name,
        -- staff (masked)
        grid_worker_name_masked,
        grid_worker_phone_masked,
        -- registered counts
        households,
        resident_population,
        -- validity [valid_from, valid_to)
        valid_from as valid_from_date,
        valid_to as valid_to_date,
        merged_into,
        -- provenance
        data_date as snapshot_date,
        is_in_latest_snapshot,
        {{ locator_columns(exclude=['sheet', 'member_no'], last_comma=false) }}
    from latest_listing
)

select * from final
