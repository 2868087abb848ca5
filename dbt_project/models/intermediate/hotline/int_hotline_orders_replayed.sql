{#- One row per 12345 order: its lifecycle replayed from its steps, not read from its latest row
    (docs block hotline_lifecycle). An order with no steps (an Open311 export) keeps what its row says.

    Incremental by order (macros/hotline_incremental.sql): every column is a function of the order's own
    current row, its steps and seeds, so recomputing the orders new or withdrawn files touch equals a
    rebuild. What the as-of date decides (a dispatch or an order due by the end of the reporting day,
    overdue) is judged on top, in fct_hotline_order, from the moments kept here. -#}
{{ config(**hotline_incremental_by_order()) }}
with

orders as (
    select * from {{ ref('stg_hotline_orders') }}
    where {{ hotline_order_touched() }}
),

steps as (
    select * from {{ ref('int_hotline_steps_sequenced') }}
    where {{ hotline_order_touched() }}
),

limits as (
    select * from {{ ref('hotline_time_limits') }}
),

calendar as (
    select * from {{ ref('working_calendar') }}
),

dispatches as (
    select
        order_id,
        dispatch_no,
        min(case when is_dispatch then step_at end) as dispatched_at,
        min(case when step = '签收' then step_at end) as signed_at,
        min(case when step = '办结' then step_at end) as closed_at,
        min(unit_in_charge) as unit,
        min(urgency) as urgency
    from steps
    where dispatch_no > 0
    group by order_id, dispatch_no
),

dispatches_judged as (
    select
        dispatches.*,
        dispatches.signed_at <= {{ dbt.dateadd('minute', 'limits.sign_minutes', 'dispatches.dispatched_at') }} as is_signed_in_limit,
        dispatches.closed_at is not null and (dispatches.signed_at is null or dispatches.signed_at > dispatches.closed_at)
            as is_closed_before_signed
    from dispatches
    inner join limits
        on dispatches.urgency = limits.urgency
),

by_dispatch as (
    select
        order_id,
        count(*) as dispatch_count,
        -- a signed dispatch is judged whatever the as-of date; an unsigned one once its limit has passed by the
        -- end of the as-of day (fct_hotline_order counts those from fct_hotline_step)
        sum(case when signed_at is not null then 1 else 0 end) as dispatches_signed,
        sum(case when coalesce(is_signed_in_limit, false) then 1 else 0 end) as dispatches_signed_in_limit,
        bool_or(is_closed_before_signed) as is_closed_before_signed,
        min(case when dispatch_no = 1 then unit end) as first_unit,
        min(case when dispatch_no = 1 then signed_at end) as first_signed_at
    from dispatches_judged
    group by order_id
),

last_unit as (
    select order_id, unit_in_charge as last_unit
    from (
        select
            order_id,
            unit_in_charge,
            row_number() over (partition by order_id order by dispatch_no desc) as rank_
        from steps
        where unit_in_charge is not null
    ) as ranked
    where rank_ = 1
),

by_order as (
    select
        order_id,
        count(*) as step_count,
        max(round_no) as last_round,
        min(case when step = '受理' then step_at end) as accepted_at,
        min(case when step = '派单' then step_at end) as first_dispatched_at,
        min(case when step = '办结' then step_at end) as first_closed_at,
        sum(case when step = '退回' then 1 else 0 end) as return_count,
        sum(case when step = '改派' then 1 else 0 end) as redispatch_count,
        sum(case when step = '延期申请' then 1 else 0 end) as extension_asked_count,
        sum(case when step = '延期批准' then 1 else 0 end) as extension_granted_count,
        sum(case when step = '延期驳回' then 1 else 0 end) as extension_refused_count,
        sum(case when step = '重办' then 1 else 0 end) as reopen_count,
        max(case when step = '撤销' then step_at end) as cancelled_at,
        bool_or(is_step_no_repeated) as is_step_no_repeated
    from steps
    group by order_id
),

last_round as (
    select
        steps.order_id,
        max(case when steps.step = '办结' then steps.step_at end) as closed_at,
        max(case when steps.step = '回访' then steps.step_at end) as followed_up_at,
        -- a 回访 in a round with no 办结 before it: followed up on what was never closed
        bool_or(steps.step = '回访' and steps.closes_before_in_round = 0) as is_followup_without_close
    from steps
    inner join by_order
        on steps.order_id = by_order.order_id
        and steps.round_no = by_order.last_round
    group by steps.order_id
),

due_now as (
    select order_id, due_in_force_at
    from (
        select
            order_id,
            due_in_force_at,
            row_number() over (partition by order_id order by step_seq desc) as rank_
        from steps
    ) as ranked
    where rank_ = 1
),

replayed as (
    select
        -- the row's own close and follow-up are replaced below by the replayed ones
        {{ zhili_star_except(ref('stg_hotline_orders'), ['closed_at', 'followed_up_at'], 'orders') }},
        by_order.order_id is not null as has_steps,
        coalesce(by_order.step_count, 0) as step_count,
        by_order.accepted_at,
        coalesce(by_order.first_dispatched_at, orders.dispatched_at) as first_dispatched_at,
        by_dispatch.first_unit,
        by_dispatch.first_signed_at,
        coalesce(last_unit.last_unit, orders.holder_unit) as last_unit,
        coalesce(by_dispatch.dispatch_count, case when orders.dispatched_at is not null then 1 else 0 end) as dispatch_count,
        by_dispatch.dispatches_signed,
        by_dispatch.dispatches_signed_in_limit,
        coalesce(by_order.return_count, 0) as return_count,
        coalesce(by_order.redispatch_count, 0) as redispatch_count,
        coalesce(by_order.extension_asked_count, 0) as extension_asked_count,
        coalesce(by_order.extension_granted_count, 0) as extension_granted_count,
        coalesce(by_order.extension_refused_count, 0) as extension_refused_count,
        coalesce(by_order.reopen_count, 0) as reopen_count,
        coalesce(by_order.reopen_count, 0) > 0 or orders.is_reopened as is_reopened_order,
        coalesce(by_order.first_closed_at, orders.closed_at) as first_closed_at,
        -- the close of the last round; the row's 办结时间 when the steps hold none (Open311, a badly kept order)
        case
            when by_order.order_id is null then orders.closed_at
            else coalesce(last_round.closed_at, case when by_order.last_round = 0 then orders.closed_at end)
        end as closed_at,
        coalesce(last_round.followed_up_at, orders.followed_up_at) as followed_up_at,
        orders.status = '已撤销' or by_order.cancelled_at is not null as is_cancelled,
        -- the printed deadline is the platform's own word; an empty one is the default replayed from the steps
        coalesce(orders.printed_due_at, due_now.due_in_force_at) as due_at,
        coalesce(by_dispatch.is_closed_before_signed, false) as is_closed_before_signed,
        coalesce(last_round.is_followup_without_close, false) as is_followup_without_close,
        coalesce(by_order.is_step_no_repeated, false) as is_step_no_repeated
    from orders
    left join by_order
        on orders.order_id = by_order.order_id
    left join by_dispatch
        on orders.order_id = by_dispatch.order_id
    left join last_unit
        on orders.order_id = last_unit.order_id
    left join last_round
        on orders.order_id = last_round.order_id
    left join due_now
        on orders.order_id = due_now.order_id
),

final as (
    select
        replayed.*,
        replayed.is_closed_before_signed or replayed.is_followup_without_close or replayed.is_step_no_repeated
            as is_contradictory,
        replayed.closed_at is not null and not replayed.is_cancelled as is_closed,
        case when replayed.closed_at is not null then replayed.closed_at <= replayed.due_at end as is_closed_on_time,
        not replayed.is_cancelled and replayed.closed_at is not null and replayed.return_count = 0
            and replayed.redispatch_count = 0 as is_direct,
        closed_day.working_day_seq - dispatch_day.working_day_seq as working_days_to_close,
        {{ dbt.datediff('replayed.first_dispatched_at', 'replayed.first_signed_at', 'minute') }} as minutes_to_first_sign,
        {{ dbt.datediff('replayed.called_at', 'replayed.first_dispatched_at', 'minute') }} as minutes_to_dispatch,
        {{ dbt.datediff('replayed.first_dispatched_at', 'replayed.closed_at', 'minute') }} as minutes_to_close,
        {{ dbt.datediff('replayed.closed_at', 'replayed.followed_up_at', 'minute') }} as minutes_to_follow_up
    from replayed
    left join calendar as dispatch_day
        on cast(replayed.first_dispatched_at as date) = dispatch_day.calendar_date
    left join calendar as closed_day
        on cast(replayed.closed_at as date) = closed_day.calendar_date
        and not replayed.is_cancelled
)

select * from final
