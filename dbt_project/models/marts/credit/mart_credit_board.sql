{#- 红榜 / 黑榜: per community and month, the households with the most approved points that month (红榜: net
    points above zero, top 10 by rank, ties share a rank) and those with approved deductions (黑榜: the 10
    most points taken off, ties share a rank). One row per household on a board; a household can be on
    both in one month (points earned and points taken off). -#}
{%- set board_size = var('credit_board_size', 10) -%}
with

entries as (
    select * from {{ ref('fct_credit_entry') }}
    where is_approved and occurred_date <= {{ as_of_date() }}
),

monthly as (
    select
        community_code,
        occurred_month as month,
        community_household_key,
        cast(sum(points) as bigint) as net_points,
        cast(sum(case when points < 0 then points else 0 end) as bigint) as points_deducted
    from entries
    group by community_code, occurred_month, community_household_key
),

ranked as (
    select
        *,
        rank() over (partition by community_code, month order by net_points desc) as red_rank,
        rank() over (partition by community_code, month order by points_deducted asc) as black_rank
    from monthly
),

boards as (
    select community_code, month, community_household_key, 'red' as board, red_rank as board_rank, net_points,
        points_deducted
    from ranked
    where net_points > 0 and red_rank <= {{ board_size }}
    union all
    select community_code, month, community_household_key, 'black', black_rank, net_points, points_deducted
    from ranked
    where points_deducted < 0 and black_rank <= {{ board_size }}
),

final as (
    select
        -- ids
        board || '|' || community_code || '|' || {{ zhili_format_date('month', '%Y%m') }} || '|' || community_household_key
            as board_row_key,
        community_household_key,
        community_code,
        month,
        board,
        cast(board_rank as bigint) as board_rank,
        net_points,
        points_deducted
    from boards
)

select * from final
