{#- One row per 12345 work order: its lifecycle replayed from the steps (docs block hotline_lifecycle),
    where it happened, who called (keyed pseudonym and masked forms only) and how it was judged.

    A table, rebuilt every run, on purpose: it is the cheap projection of the incremental replay
    (int_hotline_orders_replayed, fct_hotline_step) onto what changes without a 12345 file -- the as-of
    date (due, overdue, dispatches due to sign), linkage's caller person_key, the grid registry's roll
    forward and the taxonomy the incident hub gives. Joins and one filtered scan of unsigned dispatches,
    no window over the steps. -#}
with

as_of as (
    select {{ start_of_day_at(dbt.dateadd('day', 1, as_of_date())) }} as as_of_end_at
),

-- an unsigned dispatch is judged (and missed its limit) once the limit has passed by the end of the as-of day
unsigned_due as (
    select order_id, count(*) as dispatch_count
    from {{ ref('fct_hotline_step') }}
    cross join as_of
    where is_dispatch and signed_at is null and sign_limit_at <= as_of.as_of_end_at
    group by order_id
),

orders as (
    select
        replayed.*,
        replayed.dispatches_signed + coalesce(unsigned_due.dispatch_count, 0) as dispatches_due_to_sign,
        -- due: its deadline has passed by the end of the as-of day, or it is closed
        not replayed.is_cancelled and replayed.due_at is not null and (
            replayed.closed_at is not null or replayed.due_at < as_of.as_of_end_at
        ) as is_due,
        not replayed.is_cancelled and replayed.closed_at is null and replayed.due_at < as_of.as_of_end_at
            as is_overdue
    from {{ ref('int_hotline_orders_replayed') }} as replayed
    cross join as_of
    left join unsigned_due
        on replayed.order_id = unsigned_due.order_id
),

callers as (
    select source_key as order_id, file_md5, record_no, person_key
    from {{ ref('int_persons_resolved') }}
    where feed = 'hotline_orders' and role = 'caller'
),

rolled_forward as (
    select * from {{ ref('int_grids_rolled_forward') }}
),

-- the shared taxonomy, as the incident hub maps 诉求分类 (seed incident_taxonomy)
incidents as (
    select incident_key, taxonomy_code from {{ ref('fct_incident') }}
    where source_feed = 'hotline_orders'
),

final as (
    select
        -- ids
        {{ dbt.concat(["'hotline_orders:'", 'orders.order_id']) }} as incident_key,
        orders.order_id,
        callers.person_key as caller_person_key,
        -- the call
        orders.called_at,
        cast(orders.called_at as date) as called_date,
        orders.channel,
        orders.channel = '邻里牵手微信群' as is_neighbourhood_group,
        orders.request_type,
        orders.category,
        orders.category_l1,
        orders.category_l2,
        incidents.taxonomy_code,
        orders.urgency,
        orders.is_urgency_defaulted,
        orders.is_anonymous,
        orders.caller_id_masked,
        orders.caller_name_masked,
        orders.caller_phone_masked,
        -- handling
        orders.status,
        orders.first_unit,
        orders.last_unit,
        orders.accepted_at,
        orders.first_dispatched_at,
        orders.first_signed_at,
        orders.due_at,
        cast(orders.due_at as date) as due_date,
        orders.is_due_printed,
        orders.first_closed_at,
        orders.closed_at,
        cast(orders.closed_at as date) as closed_date,
        orders.followed_up_at,
        orders.followup_result,
        orders.satisfaction,
        -- lifecycle counts and timings
        orders.step_count,
        orders.dispatch_count,
        cast(orders.dispatches_due_to_sign as bigint) as dispatches_due_to_sign,
        cast(orders.dispatches_signed_in_limit as bigint) as dispatches_signed_in_limit,
        cast(orders.return_count as bigint) as return_count,
        cast(orders.redispatch_count as bigint) as redispatch_count,
        cast(orders.extension_asked_count as bigint) as extension_asked_count,
        cast(orders.extension_granted_count as bigint) as extension_granted_count,
        cast(orders.extension_refused_count as bigint) as extension_refused_count,
        cast(orders.reopen_count as bigint) as reopen_count,
        orders.minutes_to_dispatch,
        orders.minutes_to_first_sign,
        orders.minutes_to_close,
        orders.minutes_to_follow_up,
        cast(orders.working_days_to_close as bigint) as working_days_to_close,
        -- judgements
        orders.is_cancelled,
        orders.is_closed,
        orders.is_due,
        orders.is_closed_on_time,
        orders.is_overdue,
        orders.is_direct,
        orders.is_reopened_order as is_reopened,
        -- contradictions, flagged and never fixed
        orders.is_contradictory,
        orders.is_closed_before_signed,
        orders.is_followup_without_close,
        orders.is_step_no_repeated,
        -- where
        orders.picked_street_name,
        orders.picked_community_name,
        orders.address_code,
        orders.grid_code,
        coalesce(rolled_forward.current_grid_code, orders.grid_code) as current_grid_code,
        orders.community_code,
        orders.street_code,
        orders.placement_method,
        -- provenance
        orders.source_format,
        orders.has_steps,
        orders.version_count,
        orders.updated_at,
        {{ as_of_date() }} as as_of_date
    from orders
    left join callers
        on orders.order_id = callers.order_id
        and orders.file_md5 = callers.file_md5
        and orders.record_no = callers.record_no
    left join rolled_forward
        on orders.grid_code = rolled_forward.grid_code
    left join incidents
        on incidents.incident_key = {{ dbt.concat(["'hotline_orders:'", 'orders.order_id']) }}
)

select * from final
