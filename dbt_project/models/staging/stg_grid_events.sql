{#- One row per event: the current version (docs block latest_wins). -#}
with

source as (
    select * from {{ source('normalised', 'grid_events') }}
    where event_id is not null
),

files as (
    {{ files_delivered() }}
),

current_version as (
    {{ latest_wins('source', 'files', 'event_id', 'status_at') }}
),

final as (
    select
        -- ids
        event_id,
        -- report
        reported_at,
        grid_code_reported,
        category,
        subcategory,
        people_count,
        -- handling
        handling_level,
        status,
        dispatched_to,
        status_at,
        resolved_at,
        satisfaction,
        -- placement
        lon,
        lat,
        coordinate_status,
        {{ placement_columns() }}
        -- provenance of the current version
        version_count,
        delivered_date,
        data_date,
        {{ locator_columns(exclude=['member_no'], last_comma=false) }}
    from current_version
)

select * from final
