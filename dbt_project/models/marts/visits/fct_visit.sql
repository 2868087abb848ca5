{#- One row per submitted visit (走访编号), with what the log itself cannot say plainly: whom it was (the
    resolved person), how far the phone was from the visited address (a visit typed in at the desk), whether
    it repeats an earlier submission of the same visit, and whether the person had already left the
    register. A visit counts toward a cadence (is_countable) unless it is a repeat, desk-typed or to
    someone who had left. -#}
with

visits as (
    select * from {{ ref('int_visits_delivered') }}
),

resolved as (
    select record_locator, person_key from {{ ref('int_persons_resolved') }}
    where feed = 'grid_visits'
),

points as (
    select address_code, lon, lat from {{ ref('stg_address_points') }}
),

-- a person any register snapshot listed as 迁出/死亡/注销 left on their 状态变更日期
register_left as (
    select person_key, left_date from {{ ref('stg_register_departures') }}
),

located as (
    select
        visits.*,
        coalesce(resolved.person_key, visits.person_key) as resolved_person_key,
        -- metres between the phone and the address point (equirectangular: fine at a district's scale)
        case when visits.coordinate_status in ('ok', 'swapped_fixed') and points.lon is not null then
            111000.0 * sqrt(
                power(visits.lat - points.lat, 2)
                + power((visits.lon - points.lon) * cos(radians(points.lat)), 2)
            )
        end as distance_m
    from visits
    left join resolved
        on visits.record_locator = resolved.record_locator
    left join points
        on visits.address_code = points.address_code
),

-- the same worker submitting the same person again within 30 minutes: the later row repeats the earlier
sequenced as (
    select
        located.*,
        lag(visited_at) over (
            partition by worker_id, coalesce(resolved_person_key, name_masked || '|' || coalesce(address_code, ''))
            order by visited_at nulls last, visit_id nulls last
        ) as previous_visit_at
    from located
),

final as (
    select
        -- ids
        sequenced.visit_id,
        sequenced.worker_id,
        sequenced.resolved_person_key as person_key,
        -- when and where
        sequenced.visited_at,
        sequenced.visited_date,
        coalesce(sequenced.grid_code, sequenced.grid_code_reported) as grid_code,
        sequenced.grid_code_reported,
        sequenced.community_code,
        sequenced.address_code,
        -- what
        sequenced.subject_type,
        sequenced.visit_mode,
        sequenced.visit_mode = '入户' as is_home_visit,
        sequenced.theme,
        coalesce(sequenced.has_problem, false) as has_problem,
        sequenced.event_id,
        coalesce(sequenced.has_problem, false) and sequenced.event_id is null as is_problem_without_event,
        -- the person visited (masked)
        sequenced.name_masked,
        sequenced.id_masked,
        -- quality
        cast(round(sequenced.distance_m) as integer) as distance_m,
        coalesce(sequenced.distance_m > {{ var('desk_typed_visit_m', 500) }}, false) as is_desk_typed,
        coalesce({{ dbt.datediff('sequenced.previous_visit_at', 'sequenced.visited_at', 'minute') }} <= 30, false)
            as is_repeat_submission,
        coalesce(register_left.left_date <= sequenced.visited_date, false) as is_person_gone,
        -- provenance
        sequenced.record_locator,
        sequenced.file,
        sequenced.record_no
    from sequenced
    left join register_left
        on sequenced.resolved_person_key = register_left.person_key
),

counted as (
    select
        final.*,
        not (is_repeat_submission or is_desk_typed or is_person_gone) as is_countable
    from final
)

select * from counted
