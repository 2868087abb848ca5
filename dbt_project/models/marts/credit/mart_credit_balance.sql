{#- One row per ledger household (户编号, keyed) as of the reporting date: approved points earned, points
    redeemed and the balance (earned minus redeemed; it can go below zero, the ledger lets it). Balances
    count from the first workbook delivered (opening balance 0); a household that split (分户) keeps the
    balance of its retired 户编号 here, and each part starts its own. -#}
with

entries as (
    select * from {{ ref('fct_credit_entry') }}
    where occurred_date <= {{ as_of_date() }}
),

redemptions as (
    select * from {{ ref('fct_credit_redemption') }}
    where redeemed_date <= {{ as_of_date() }}
),

earned as (
    select
        community_household_key,
        {{ zhili_any_value('community_code') }} as community_code,
        -- the head on the latest entry; two entries of a day are told apart by their 流水号, so the answer never
        -- follows row order (it did: Spark and DuckDB named different heads for 2 of 13,688 households at 100k)
        {{ zhili_arg_max_tuple('head_person_key', ['occurred_date', 'entry_id']) }} as head_person_key,
        cast(sum(points_counted) as bigint) as points_earned,
        cast(sum(case when is_approved and points > 0 then points else 0 end) as bigint) as points_added,
        cast(sum(case when is_approved and points < 0 then points else 0 end) as bigint) as points_deducted,
        count(*) filter (where is_approved) as entries_approved,
        count(*) filter (where review_status = '待审核') as entries_pending,
        count(*) filter (where review_status = '已驳回') as entries_rejected,
        max(occurred_date) as last_entry_date
    from entries
    group by community_household_key
),

redeemed as (
    select
        community_household_key,
        {{ zhili_any_value('community_code') }} as community_code,
        {{ zhili_arg_max_tuple('head_person_key', ['redeemed_date', 'redemption_id']) }} as head_person_key,
        cast(sum(points_used) as bigint) as points_redeemed,
        count(*) as redemptions,
        max(redeemed_date) as last_redemption_date
    from redemptions
    group by community_household_key
),

final as (
    select
        -- ids
        coalesce(earned.community_household_key, redeemed.community_household_key) as community_household_key,
        coalesce(earned.head_person_key, redeemed.head_person_key) as head_person_key,
        coalesce(earned.community_code, redeemed.community_code) as community_code,
        -- points
        coalesce(earned.points_earned, 0) as points_earned,
        coalesce(earned.points_added, 0) as points_added,
        coalesce(earned.points_deducted, 0) as points_deducted,
        coalesce(redeemed.points_redeemed, 0) as points_redeemed,
        coalesce(earned.points_earned, 0) - coalesce(redeemed.points_redeemed, 0) as balance,
        coalesce(earned.points_earned, 0) - coalesce(redeemed.points_redeemed, 0) < 0 as is_below_zero,
        -- counts
        coalesce(earned.entries_approved, 0) as entries_approved,
        coalesce(earned.entries_pending, 0) as entries_pending,
        coalesce(earned.entries_rejected, 0) as entries_rejected,
        coalesce(redeemed.redemptions, 0) as redemptions,
        earned.last_entry_date,
        redeemed.last_redemption_date,
        cast({{ as_of_date() }} as date) as as_of_date
    from earned
    full outer join redeemed
        on earned.community_household_key = redeemed.community_household_key
)

select * from final
