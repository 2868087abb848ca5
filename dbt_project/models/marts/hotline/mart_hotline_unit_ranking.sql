{#- The monthly 红黑榜 of 承办单位: one row per unit and month of the call, with the 三率 and 按时办结率
    read from mart_indicators (defined once there), a weighted score (practice: 响应 30 %, 解决 35 %,
    满意 35 %; vars hotline_weight_*) and the unit's rank among units with at least
    var('hotline_ranking_min_orders') orders that month. The top three are the 红榜, the bottom three
    the 黑榜. A rate with no denominator counts as 0 in the score and is left null in its column. -#}
{%- set w_response = var('hotline_weight_response', 0.30) -%}
{%- set w_resolution = var('hotline_weight_resolution', 0.35) -%}
{%- set w_satisfaction = var('hotline_weight_satisfaction', 0.35) -%}
{%- set min_orders = var('hotline_ranking_min_orders', 5) -%}
with

indicators as (
    select * from {{ ref('mart_indicators') }}
    where source = 'hotline_orders'
        and category = 'all'
        and level = 'unit'
        and period_grain = 'month'
),

pivoted as (
    select
        unit_code as unit_name,
        period_start_date as month_start_date,
        max(case when indicator_code = 'hotline_orders_received' then numerator end) as orders_received,
        max(case when indicator_code = 'hotline_response_rate' then value end) as response_rate,
        max(case when indicator_code = 'hotline_resolution_rate' then value end) as resolution_rate,
        max(case when indicator_code = 'hotline_satisfaction_rate' then value end) as satisfaction_rate,
        max(case when indicator_code = 'hotline_on_time_rate' then value end) as on_time_rate,
        max(case when indicator_code = 'hotline_return_rate' then value end) as return_rate,
        max(case when indicator_code = 'hotline_reopen_rate' then value end) as reopen_rate,
        max(case when indicator_code = 'hotline_direct_rate' then value end) as direct_rate,
        max(as_of_date) as as_of_date
    from indicators
    group by unit_code, period_start_date
),

scored as (
    select
        pivoted.*,
        {{ hotline_unit_level('pivoted.unit_name') }} as unit_level,
        100 * (
            {{ w_response }} * coalesce(response_rate, 0)
            + {{ w_resolution }} * coalesce(resolution_rate, 0)
            + {{ w_satisfaction }} * coalesce(satisfaction_rate, 0)
        ) as score,
        coalesce(orders_received, 0) >= {{ min_orders }} as is_ranked
    from pivoted
),

ranked as (
    select
        scored.*,
        case when is_ranked then rank() over (partition by month_start_date, is_ranked order by score desc) end as score_rank,
        case when is_ranked then rank() over (partition by month_start_date, is_ranked order by score asc) end as score_rank_from_bottom
    from scored
),

final as (
    select
        -- ids
        {{ dbt.concat(['unit_name', "'|'", 'cast(month_start_date as ' ~ dbt.type_string() ~ ')']) }} as ranking_key,
        unit_name,
        unit_level,
        month_start_date,
        -- the month's figures
        cast(coalesce(orders_received, 0) as bigint) as orders_received,
        cast(response_rate as double) as response_rate,
        cast(resolution_rate as double) as resolution_rate,
        cast(satisfaction_rate as double) as satisfaction_rate,
        cast(on_time_rate as double) as on_time_rate,
        cast(return_rate as double) as return_rate,
        cast(reopen_rate as double) as reopen_rate,
        cast(direct_rate as double) as direct_rate,
        cast(score as double) as score,
        -- the list
        is_ranked,
        cast(score_rank as bigint) as score_rank,
        cast(case
            when score_rank <= 3 then '红榜'
            when score_rank_from_bottom <= 3 then '黑榜'
        end as string) as list_name,
        cast(as_of_date as date) as as_of_date
    from ranked
)

select * from final
