{#- One row per incident from the three incident feeds (current versions),
    in one shape, before the taxonomy, status and time-limit rules. -#}
with

police_incidents as (
    select * from {{ ref('stg_police_incidents') }}
),

petitions as (
    select * from {{ ref('stg_petitions') }}
),

grid_events as (
    select * from {{ ref('stg_grid_events') }}
),

unioned as (
    select
        'police_incidents' as source_feed,
        incident_id as source_id,
        category as source_category,
        subcategory as source_subcategory,
        outcome as source_status,
        received_at,
        feedback_at as status_at,
        -- a call's outcome time is when it was dealt with
        feedback_at as source_closed_at,
        cast(null as date) as due_date,
        cast(null as {{ dbt.type_timestamp() }}) as accepted_at,
        -- 110 calls are handled by the police station, outside the 综治 levels
        cast(null as {{ dbt.type_string() }}) as handling_level,
        cast(null as {{ dbt.type_string() }}) as satisfaction,
        grid_code,
        community_code,
        street_code,
        placement_method,
        version_count,
        file_md5,
        record_no,
    from police_incidents

    union all

    select
        'petitions' as source_feed,
        case_id as source_id,
        category_l1 as source_category,
        category_l2 as source_subcategory,
        status as source_status,
        registered_at as received_at,
        last_moved_at as status_at,
        coalesce(closed_at, last_moved_at) as source_closed_at,
        due_date,
        accepted_at,
        -- the responsible unit's level
        case
            when responsible_unit like '%社区%' or responsible_unit like '%村%' then '社区'
            when responsible_unit like '%街道%' or responsible_unit like '%镇%' or responsible_unit like '%乡%' then '街道'
            when responsible_unit like '%网格%' then '网格'
            when responsible_unit is not null then '区直部门'
        end as handling_level,
        satisfaction,
        grid_code,
        community_code,
        street_code,
        placement_method,
        version_count,
        file_md5,
        record_no,
    from petitions

    union all

    select
        'grid_events' as source_feed,
        event_id as source_id,
        category as source_category,
        subcategory as source_subcategory,
        status as source_status,
        reported_at as received_at,
        status_at,
        coalesce(resolved_at, status_at) as source_closed_at,
        cast(null as date) as due_date,
        cast(null as {{ dbt.type_timestamp() }}) as accepted_at,
        handling_level,
        satisfaction,
        grid_code,
        community_code,
        street_code,
        placement_method,
        version_count,
        file_md5,
        record_no,
    from grid_events
),

final as (
    select
        {{ dbt.concat(['source_feed', "':'", 'source_id']) }} as incident_key,
        *,
    from unioned
)

select * from final
