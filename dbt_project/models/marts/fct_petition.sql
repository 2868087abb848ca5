{#- One row per petition case: its current version with the status history
    summarised, and the 信访工作条例 deadlines checked. -#}
with

petitions as (
    select * from {{ ref('stg_petitions') }}
),

incidents as (
    select * from {{ ref('fct_incident') }}
    where source_feed = 'petitions'
),

final as (
    select
        -- ids
        incidents.incident_key,
        petitions.case_id,
        -- case
        petitions.channel,
        petitions.petitioner_count,
        petitions.petitioners_listed,
        petitions.is_collective,
        petitions.category,
        incidents.taxonomy_code,
        petitions.responsible_unit,
        incidents.handling_level,
        petitions.is_clerk_marked_repeat,
        -- status history summarised
        petitions.status as source_status,
        incidents.status,
        incidents.is_closed,
        petitions.registered_at,
        cast(petitions.registered_at as date) as registered_date,
        petitions.accepted_at,
        petitions.last_moved_at,
        incidents.closed_at,
        cast(incidents.closed_at as date) as closed_date,
        petitions.version_count,
        petitions.first_data_date,
        -- deadlines
        petitions.due_date,
        petitions.is_extended,
        incidents.due_at,
        -- a bigint on both engines, as the contract says (Spark's datediff answers an int)
        cast({{ dbt.datediff('petitions.registered_at', 'petitions.accepted_at', 'day') }} as bigint) as days_to_accept,
        cast({{ dbt.datediff('coalesce(petitions.accepted_at, petitions.registered_at)', 'incidents.closed_at', 'day') }} as bigint)
            as days_to_close,
        petitions.accepted_at is not null
            and petitions.accepted_at <= {{ dbt.dateadd('day', 15, 'petitions.registered_at') }} as is_accepted_on_time,
        incidents.is_closed_on_time,
        incidents.is_overdue,
        petitions.satisfaction,
        -- where the problem is (as fct_incident places it: the problem address, else the petitioners' home)
        incidents.grid_code,
        incidents.community_code,
        incidents.street_code,
        -- the day overdue and open were judged on
        {{ as_of_date() }} as as_of_date
    from petitions
    inner join incidents
        on petitions.case_id = incidents.source_id
)

select * from final
