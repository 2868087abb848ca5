{#- One row per community x taxonomy code x day on which the community had at
    least hotline_topic_min_count 12345 orders of that code (the only days that
    can alert), scored against the community's own trailing 8 weeks. See the
    mart_alert_hotline_topic_scores docs block (docs/alerts/hotline_topic_spike.md). -#}
{%- set window_days = var('hotline_topic_window_days', 56) -%}
{%- set min_history_days = var('hotline_topic_min_history_days', 7) -%}
{%- set min_count = var('hotline_topic_min_count', 5) -%}
{%- set lambda_floor = var('hotline_topic_lambda_floor', 0.05) -%}
{%- set p_threshold = var('hotline_topic_p_value', 0.0001) -%}
with

orders as (
    select * from {{ ref('fct_hotline_order') }}
    where community_code is not null
        and taxonomy_code is not null
        and not is_cancelled
        and called_date <= {{ as_of_date() }}
),

data_start as (
    select min(called_date) as first_date from orders
),

daily as (
    select
        community_code,
        taxonomy_code,
        called_date as activity_date,
        count(*) as order_count
    from orders
    group by community_code, taxonomy_code, called_date
),

trailing_sums as (
    select
        daily.*,
        coalesce(sum(order_count) over (
            partition by community_code, taxonomy_code
            order by activity_date
            range between interval {{ window_days }} days preceding and interval 1 day preceding
        ), 0) as trailing_count
    from daily
),

with_rate as (
    select
        trailing_sums.*,
        -- days of history (from the first 12345 day), at most the window
        least({{ window_days }}, {{ dbt.datediff('data_start.first_date', 'trailing_sums.activity_date', 'day') }}) as history_days,
        greatest(
            trailing_sums.trailing_count
                / nullif(least({{ window_days }}, {{ dbt.datediff('data_start.first_date', 'trailing_sums.activity_date', 'day') }}), 0),
            {{ lambda_floor }}
        ) as expected_count
    from trailing_sums
    cross join data_start
    -- only days that reach the minimum count can alert: the tail is computed for those alone
    where trailing_sums.order_count >= {{ min_count }}
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
        with_rate.community_code,
        with_rate.taxonomy_code,
        with_rate.activity_date,
        least(sum(exp(-with_rate.expected_count + terms.k * ln(with_rate.expected_count) - terms.ln_factorial)), 1) as p_value
    from with_rate
    inner join terms
        on terms.k >= with_rate.order_count
    group by with_rate.community_code, with_rate.taxonomy_code, with_rate.activity_date
),

final as (
    select
        -- ids
        {{ dbt.concat(['with_rate.community_code', "'|'", 'with_rate.taxonomy_code', "'|'", 'cast(with_rate.activity_date as ' ~ dbt.type_string() ~ ')']) }} as community_topic_day_key,
        with_rate.community_code,
        left(with_rate.community_code, 9) as street_code,
        with_rate.taxonomy_code,
        with_rate.activity_date,
        -- counts
        cast(with_rate.order_count as bigint) as order_count,
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
        on with_rate.community_code = tail.community_code
        and with_rate.taxonomy_code = tail.taxonomy_code
        and with_rate.activity_date = tail.activity_date
)

select * from final
