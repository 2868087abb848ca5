{#- One row per distinct step of a 12345 order, in the order taken, with what it meant at that moment:
    which dispatch it belongs to (派单, 改派 and 重办 each start a dispatch: the sign clock restarts), which
    round (a 重办 starts a new one), the unit in charge and the deadline in force after it.

    Incremental by order (macros/hotline_incremental.sql): everything here is a function of the order's
    own steps and current row and of seeds (a seed change is a code change: zhili rebuilds), nothing of
    the as-of date or a dimension, so recomputing the orders the new or gone files touch equals a rebuild. -#}
{{ config(**hotline_incremental_by_order()) }}
with

steps as (
    select * from {{ ref('stg_hotline_steps') }}
    where {{ hotline_order_touched() }}
),

orders as (
    select order_id, urgency, holder_unit from {{ ref('stg_hotline_orders') }}
    where {{ hotline_order_touched() }}
),

limits as (
    select * from {{ ref('hotline_time_limits') }}
),

calendar as (
    select * from {{ ref('working_calendar') }}
),

ordered as (
    select
        steps.*,
        coalesce(orders.urgency, '一般') as urgency,
        -- two steps can share a time: the step number breaks the tie, then the content
        row_number() over (
            partition by steps.order_id order by steps.step_at nulls last, steps.step_no nulls last, steps.step_key nulls last
        ) as step_seq,
        count(*) over (partition by steps.order_id, steps.step_no) > 1 as is_step_no_repeated
    from steps
    left join orders
        on steps.order_id = orders.order_id
),

flagged as (
    select
        ordered.*,
        step in ('派单', '改派', '重办') as is_dispatch,
        -- the first 派单 sets the deadline; a 改派 after a 退回 keeps it; a 重办 starts a new one
        (step = '派单' and step_seq = min(case when step = '派单' then step_seq end) over (partition by order_id))
            or step = '重办' as is_deadline_start
    from ordered
),

numbered as (
    select
        flagged.*,
        sum(case when is_dispatch then 1 else 0 end) over (
            partition by order_id order by step_seq rows between unbounded preceding and current row
        ) as dispatch_no,
        sum(case when step = '重办' then 1 else 0 end) over (
            partition by order_id order by step_seq rows between unbounded preceding and current row
        ) as round_no
    from flagged
),

rounds as (
    select
        numbered.*,
        -- 办结 steps taken earlier in the same round: a 回访 with none is a badly kept order
        coalesce(sum(case when step = '办结' then 1 else 0 end) over (
            partition by order_id, round_no order by step_seq rows between unbounded preceding and 1 preceding
        ), 0) as closes_before_in_round
    from numbered
),

-- the platform's default deadline from a dispatch or 重办 (hotline_time_limits, working_calendar)
defaults as (
    select
        numbered.step_key,
        case
            when limits.due_hours is not null
                then {{ dbt.dateadd('hour', 'limits.due_hours', 'numbered.step_at') }}
            else {{ start_of_day_at('due_day.calendar_date') }}
                + (numbered.step_at - {{ start_of_day_at('cast(numbered.step_at as date)') }})
        end as default_due_at
    from numbered
    inner join limits
        on numbered.urgency = limits.urgency
    left join calendar as from_day
        on cast(numbered.step_at as date) = from_day.calendar_date
    left join calendar as due_day
        on due_day.is_working_day
        and due_day.working_day_seq = from_day.working_day_seq + limits.due_working_days
    where numbered.is_deadline_start
),

deadlines as (
    select
        rounds.*,
        case
            when rounds.is_deadline_start then defaults.default_due_at
            when rounds.step = '延期批准' then rounds.extended_to
        end as sets_due_at
    from rounds
    left join defaults
        on rounds.step_key = defaults.step_key
),

-- the unit a dispatch went to: the one that signed for it or sent it back; a last dispatch nobody has
-- signed for yet is with the unit the order's current row names (承办单位)
dispatch_signers as (
    select
        order_id,
        dispatch_no,
        coalesce(
            min(case when step = '签收' then unit end),
            min(case when step = '退回' then unit end)
        ) as signer_unit,
        dispatch_no = max(dispatch_no) over (partition by order_id) as is_last_dispatch
    from numbered
    where dispatch_no > 0
    group by order_id, dispatch_no
),

dispatch_units as (
    select
        dispatch_signers.order_id,
        dispatch_signers.dispatch_no,
        coalesce(
            dispatch_signers.signer_unit,
            case when dispatch_signers.is_last_dispatch then orders.holder_unit end
        ) as dispatch_unit
    from dispatch_signers
    left join orders
        on dispatch_signers.order_id = orders.order_id
),

final as (
    select
        -- ids
        deadlines.step_key,
        deadlines.order_id,
        deadlines.step_no,
        deadlines.step_seq,
        -- the step
        deadlines.step,
        deadlines.step_at,
        deadlines.unit,
        deadlines.staff_name_masked,
        deadlines.note_chars,
        deadlines.extended_to,
        deadlines.is_step_no_repeated,
        -- what it meant
        deadlines.urgency,
        deadlines.is_dispatch,
        deadlines.dispatch_no,
        deadlines.round_no,
        deadlines.closes_before_in_round,
        dispatch_units.dispatch_unit as unit_in_charge,
        deadlines.sets_due_at,
        {{ zhili_last_value_ignore_nulls('deadlines.sets_due_at') }} over (
            partition by deadlines.order_id order by deadlines.step_seq rows between unbounded preceding and current row
        ) as due_in_force_at,
        -- provenance of its first delivery
        deadlines.delivery_count,
        deadlines.data_date,
        deadlines.feed,
        deadlines.file,
        deadlines.file_md5,
        deadlines.sheet,
        deadlines.record_no
    from deadlines
    left join dispatch_units
        on deadlines.order_id = dispatch_units.order_id
        and deadlines.dispatch_no = dispatch_units.dispatch_no
)

select * from final
