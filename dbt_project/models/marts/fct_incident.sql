{#- One row per incident. Taxonomy, unified status and due time come from
    seeds; see the fct_incident docs block for the rules. -#}
with

incidents as (
    select * from {{ ref('int_incidents_unioned') }}
),

taxonomy as (
    select * from {{ ref('incident_taxonomy') }}
),

statuses as (
    select * from {{ ref('incident_statuses') }}
),

time_limits as (
    select * from {{ ref('incident_time_limits') }}
),

rolled_forward as (
    select * from {{ ref('int_grids_rolled_forward') }}
),

classified as (
    select
        incidents.*,
        coalesce(taxonomy_exact.taxonomy_code, taxonomy_any.taxonomy_code, 'other') as taxonomy_code,
        coalesce(taxonomy_exact.taxonomy_name_zh, taxonomy_any.taxonomy_name_zh, '其他') as taxonomy_name_zh,
        coalesce(taxonomy_exact.taxonomy_name_en, taxonomy_any.taxonomy_name_en, 'Other') as taxonomy_name_en,
        coalesce(statuses.status, 'unknown') as status,
        coalesce(statuses.is_closed, false) as is_closed
    from incidents
    left join taxonomy as taxonomy_exact
        on incidents.source_feed = taxonomy_exact.source_feed
        and incidents.source_category = taxonomy_exact.source_category
        and incidents.source_subcategory = taxonomy_exact.source_subcategory
    left join taxonomy as taxonomy_any
        on incidents.source_feed = taxonomy_any.source_feed
        and incidents.source_category = taxonomy_any.source_category
        and taxonomy_any.source_subcategory = '*'
    left join statuses
        on incidents.source_feed = statuses.source_feed
        and incidents.source_status = statuses.source_status
),

timed as (
    select
        classified.*,
        case
            -- a feed that states its deadline to the minute (12345: the deadline in force)
            when classified.source_due_at is not null then classified.source_due_at
            -- a due date counts to its end: closed on the due date is on time
            when classified.due_date is not null
                then {{ start_of_day_at(dbt.dateadd('day', 1, 'classified.due_date')) }}
            when classified.source_feed = 'petitions'
                then {{ dbt.dateadd('day', 'coalesce(limit_exact.time_limit_days, limit_any.time_limit_days)', 'coalesce(classified.accepted_at, classified.received_at)') }}
            else {{ dbt.dateadd('day', 'coalesce(limit_exact.time_limit_days, limit_any.time_limit_days)', 'classified.received_at') }}
        end as due_at,
        case when classified.is_closed then classified.source_closed_at end as closed_at
    from classified
    left join time_limits as limit_exact
        on classified.source_feed = limit_exact.source_feed
        and classified.taxonomy_code = limit_exact.taxonomy_code
    left join time_limits as limit_any
        on classified.source_feed = limit_any.source_feed
        and limit_any.taxonomy_code = '*'
),

final as (
    select
        -- ids
        timed.incident_key,
        timed.source_feed,
        timed.source_id,
        -- taxonomy
        timed.taxonomy_code,
        timed.taxonomy_name_zh,
        timed.taxonomy_name_en,
        timed.source_category,
        timed.source_subcategory,
        -- status
        timed.status,
        timed.source_status,
        timed.is_closed,
        timed.handling_level,
        timed.satisfaction,
        -- dates
        timed.received_at,
        cast(timed.received_at as date) as received_date,
        cast(timed.due_at as {{ zhili_timestamptz() }}) as due_at,
        -- the local (China time: the profile sets TimeZone) days analysts count by
        coalesce(timed.due_date, cast(timed.due_at as date)) as due_date,
        timed.closed_at,
        cast(timed.closed_at as date) as closed_date,
        timed.status_at,
        coalesce(timed.is_closed and timed.closed_at <= timed.due_at, false) as is_closed_on_time,
        coalesce(
            (timed.is_closed and timed.closed_at > timed.due_at)
            or (not timed.is_closed and timed.due_at < {{ start_of_day_at(dbt.dateadd('day', 1, as_of_date())) }}),
            false
        ) as is_overdue,
        -- where (the grid active when it happened, and that grid's current successor)
        timed.grid_code,
        coalesce(rolled_forward.current_grid_code, timed.grid_code) as current_grid_code,
        timed.community_code,
        timed.street_code,
        timed.placement_method,
        -- provenance of the current version
        timed.version_count,
        -- the day overdue and open were judged on
        {{ as_of_date() }} as as_of_date
    from timed
    left join rolled_forward
        on timed.grid_code = rolled_forward.grid_code
)

select * from final
