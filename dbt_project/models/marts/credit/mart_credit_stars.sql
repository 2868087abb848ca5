{#- 五星级文明户: one row per ledger household and calendar year with approved entries, its star rating by
    the county's thresholds (seed credit_star_thresholds): the highest row whose annual points the household
    reaches and, where the row asks for it, with no approved 遵纪守法 deduction in the year. 0 stars when no
    row is reached. -#}
with

entries as (
    select * from {{ ref('fct_credit_entry') }}
    where is_approved and occurred_date <= {{ as_of_date() }}
),

thresholds as (
    select * from {{ ref('credit_star_thresholds') }}
),

yearly as (
    select
        community_household_key,
        {{ zhili_any_value('community_code') }} as community_code,
        cast(date_trunc('year', occurred_date) as date) as year_start_date,
        cast(sum(points) as bigint) as annual_points,
        bool_or(item_category = '遵纪守法' and points < 0) as has_law_deduction
    from entries
    group by community_household_key, cast(date_trunc('year', occurred_date) as date)
),

rated as (
    select
        yearly.community_household_key,
        yearly.year_start_date,
        max(thresholds.stars) as stars
    from yearly
    inner join thresholds
        on yearly.annual_points >= thresholds.min_annual_points
        and not (thresholds.requires_no_law_deduction and yearly.has_law_deduction)
    group by yearly.community_household_key, yearly.year_start_date
),

final as (
    select
        -- ids
        yearly.community_household_key,
        yearly.community_code,
        yearly.year_start_date,
        -- the rating
        yearly.annual_points,
        yearly.has_law_deduction,
        cast(coalesce(rated.stars, 0) as integer) as stars,
        thresholds.star_name_zh
    from yearly
    left join rated
        on yearly.community_household_key = rated.community_household_key
        and yearly.year_start_date = rated.year_start_date
    left join thresholds
        on rated.stars = thresholds.stars
)

select * from final
