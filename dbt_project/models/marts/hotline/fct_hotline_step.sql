{#- One row per distinct process step of a 12345 order (the step-level history): the unit in charge and
    the deadline in force after each step, and for a dispatch whether it was signed in its limit.

    Incremental by order (macros/hotline_incremental.sql): a step's columns depend on its order's steps,
    whether the order was delivered, and seeds only; no as-of date, no dimension. -#}
{{ config(**hotline_incremental_by_order()) }}
with

steps as (
    select * from {{ ref('int_hotline_steps_sequenced') }}
    where {{ hotline_order_touched() }}
),

limits as (
    select * from {{ ref('hotline_time_limits') }}
),

-- the orders fct_hotline_order holds: a step can arrive for an order whose own file was rejected or is
-- still to come (the GDLZ file is delivered apart from the GD file); it is kept, and says so
orders as (
    select order_id from {{ ref('int_hotline_orders_replayed') }}
    where {{ hotline_order_touched() }}
),

next_sign as (
    select
        order_id,
        dispatch_no,
        min(case when step = '签收' then step_at end) as signed_at
    from steps
    where dispatch_no > 0
    group by order_id, dispatch_no
),

final as (
    select
        -- ids
        steps.step_key,
        {{ dbt.concat(["'hotline_orders:'", 'steps.order_id']) }} as incident_key,
        steps.order_id,
        orders.order_id is not null as is_order_delivered,
        steps.step_no,
        cast(steps.step_seq as bigint) as step_seq,
        -- the step
        steps.step,
        steps.step_at,
        cast(steps.step_at as date) as step_date,
        steps.unit,
        steps.staff_name_masked,
        steps.note_chars,
        steps.extended_to,
        -- what it meant
        cast(steps.dispatch_no as bigint) as dispatch_no,
        cast(steps.round_no as bigint) as round_no,
        steps.unit_in_charge,
        steps.is_dispatch,
        case when steps.is_dispatch then {{ dbt.dateadd('minute', 'limits.sign_minutes', 'steps.step_at') }} end as sign_limit_at,
        case when steps.is_dispatch then next_sign.signed_at end as signed_at,
        case
            when steps.is_dispatch then next_sign.signed_at <= {{ dbt.dateadd('minute', 'limits.sign_minutes', 'steps.step_at') }}
        end as is_signed_in_limit,
        steps.sets_due_at,
        steps.due_in_force_at,
        steps.is_step_no_repeated,
        -- provenance of its first delivery
        steps.delivery_count,
        steps.data_date,
        steps.file,
        steps.file_md5,
        steps.record_no
    from steps
    left join limits
        on steps.urgency = limits.urgency
    left join next_sign
        on steps.order_id = next_sign.order_id
        and steps.dispatch_no = next_sign.dispatch_no
    left join orders
        on steps.order_id = orders.order_id
)

select * from final
