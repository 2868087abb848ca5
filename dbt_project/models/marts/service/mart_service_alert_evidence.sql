{#- The 三张清单 warnings with their evidence, one row per alert (mart_alerts takes them as they are):
    service_need_unaccepted — a need neither accepted nor ended {{ var('service_unaccepted_days', 3) }} days
    after it was posted (raised then; open while it is still unaccepted; evidence: the need);
    service_supply_gap — a community x category with needs posted in the last
    {{ var('service_gap_window_days', 7) }} days and no active resource covering it (evidence: those needs). -#}
{%- set unaccepted_days = var('service_unaccepted_days', 3) -%}
with

as_of as (
    select {{ as_of_date() }} as as_of_date
),

unaccepted as (
    select
        'service_need_unaccepted|' || needs.need_id as alert_key,
        'service_need_unaccepted' as rule,
        case when needs.posted_date <= as_of.as_of_date - 7 then 'orange' else 'yellow' end as severity,
        needs.grid_code,
        needs.community_code,
        needs.street_code,
        needs.person_key,
        needs.category,
        needs.need_id as evidence_keys,
        1 as evidence_count,
        needs.posted_at + interval {{ unaccepted_days }} day as raised_at,
        needs.status_at as last_evidence_at,
        needs.is_unaccepted as is_open,
        cast({{ dbt.datediff('needs.posted_date', 'as_of.as_of_date', 'day') }} as bigint) as metric_value,
        {{ unaccepted_days }} as threshold
    from {{ ref('fct_service_need') }} as needs
    cross join as_of
    where needs.is_unaccepted_overdue
),

gaps as (
    select
        'service_supply_gap|' || gap.community_code || '|' || gap.category as alert_key,
        'service_supply_gap' as rule,
        case when gap.open_needs > 0 then 'orange' else 'yellow' end as severity,
        cast(null as string) as grid_code,
        gap.community_code,
        left(gap.community_code, 9) as street_code,
        cast(null as string) as person_key,
        gap.category,
        gap.recent_need_ids as evidence_keys,
        gap.recent_needs as evidence_count,
        {{ start_of_day_at('gap.as_of_date') }} as raised_at,
        gap.last_posted_at as last_evidence_at,
        true as is_open,
        cast(gap.recent_needs as bigint) as metric_value,
        0 as threshold
    from {{ ref('mart_service_supply_gap') }} as gap
    where gap.has_demand_without_supply
),

final as (
    -- both list the same columns in the same order
    select * from unaccepted
    union all
    select * from gaps
)

select * from final
