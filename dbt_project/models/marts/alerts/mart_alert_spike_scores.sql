{#- One row per grid x taxonomy code x day on which the grid had at least
    spike_min_count incidents of that category (the only days that can
    alert), scored against the grid's own trailing history. See the
    mart_alert_spike_scores docs block for the rule. -#}
{%- set window_days = var('spike_window_days', 28) -%}
{%- set min_history_days = var('spike_min_history_days', 7) -%}
{%- set min_count = var('spike_min_count', 5) -%}
{%- set lambda_floor = var('spike_lambda_floor', 0.05) -%}
{%- set p_threshold = var('spike_p_value', 0.0001) -%}
with

incidents as (
    select * from {{ ref('fct_incident') }}
    where grid_code is not null
        and received_date <= {{ as_of_date() }}
        -- calibrated on the three incident feeds; 12345 topics are scored by community in their own rule
        and source_feed is distinct from 'hotline_orders'
),

grids as (
    select * from {{ ref('dim_grid') }}
),

data_start as (
    select min(received_date) as first_date from incidents
),

daily as (
    select
        grid_code,
        taxonomy_code,
        received_date as activity_date,
        count(*) as incident_count
    from incidents
    group by grid_code, taxonomy_code, received_date
),

trailing_sums as (
    select
        daily.*,
        coalesce(sum(incident_count) over (
            partition by grid_code, taxonomy_code
            order by activity_date
            range between interval {{ window_days }} days preceding and interval 1 day preceding
        ), 0) as trailing_count
    from daily
),

scored as (
    select
        trailing_sums.grid_code,
        trailing_sums.taxonomy_code,
        trailing_sums.activity_date,
        trailing_sums.incident_count,
        trailing_sums.trailing_count,
        -- days of history the grid has had (data start or the grid's start), capped at the window
        least(
            {{ window_days }},
            {{ dbt.datediff('greatest(data_start.first_date, coalesce(grids.valid_from_date, data_start.first_date))', 'trailing_sums.activity_date', 'day') }}
        ) as history_days
    from trailing_sums
    cross join data_start
    left join grids
        on trailing_sums.grid_code = grids.grid_code
    where trailing_sums.incident_count >= {{ min_count }}
),

with_rate as (
    select
        scored.*,
        greatest(trailing_count / nullif(history_days, 0), {{ lambda_floor }}) as expected_count
    from scored
),

-- Poisson upper tail P(X >= c | lambda) = sum over k >= c of exp(-lambda) lambda^k / k!, summed from c up to the
-- terms' bound (k < 1000) rather than taken as 1 minus the terms below c: no difference from 1, so the last-bit
-- differences of the engines' exp, ln and ln(k!) stay in p's last bits (docs/spark.md)
terms as (
    select
        k,
        {{ zhili_ln_factorial('k') }} as ln_factorial
    from range(0, 1000) as terms(k)
),

tail as (
    select
        with_rate.grid_code,
        with_rate.taxonomy_code,
        with_rate.activity_date,
        least(sum(exp(-with_rate.expected_count + terms.k * ln(with_rate.expected_count) - terms.ln_factorial)), 1) as p_value
    from with_rate
    inner join terms
        on terms.k >= with_rate.incident_count
    group by with_rate.grid_code, with_rate.taxonomy_code, with_rate.activity_date
),

final as (
    select
        -- ids
        {{ dbt.concat(['with_rate.grid_code', "'|'", 'with_rate.taxonomy_code', "'|'", 'cast(with_rate.activity_date as ' ~ dbt.type_string() ~ ')']) }} as grid_category_day_key,
        with_rate.grid_code,
        with_rate.taxonomy_code,
        with_rate.activity_date,
        -- counts
        cast(with_rate.incident_count as bigint) as incident_count,
        cast(with_rate.trailing_count as bigint) as trailing_count,
        cast(with_rate.history_days as integer) as history_days,
        cast(with_rate.expected_count as double) as expected_count,
        -- a count of 1000 or more has no term below the bound: p is 0 there, as 1 minus all 1000 terms (floored
        -- at 0) was before
        cast(coalesce(tail.p_value, 0) as double) as p_value,
        -- decision
        with_rate.history_days >= {{ min_history_days }} as has_enough_history,
        coalesce(with_rate.history_days >= {{ min_history_days }} and coalesce(tail.p_value, 0) < {{ p_threshold }}, false) as is_spike
    from with_rate
    left join tail
        on with_rate.grid_code = tail.grid_code
        and with_rate.taxonomy_code = tail.taxonomy_code
        and with_rate.activity_date = tail.activity_date
)

select * from final
