{#- 积分参与率 per community and quarter: ledger households with at least one approved entry of positive
    points dated in the quarter, over the register's households in the community (dim_household: 户籍
    households current on the reporting date, placed by their grid). The denominator is the register's,
    not the ledger's: households that keep no points file count as not taking part. The quarter is the
    deed's (发生日期); only deeds up to the reporting date count. -#}
with

entries as (
    select * from {{ ref('fct_credit_entry') }}
    where is_approved and points > 0 and occurred_date <= {{ as_of_date() }}
),

register_households as (
    select
        left(grid_code, 12) as community_code,
        count(*) as households
    from {{ ref('dim_household') }}
    where is_current and grid_code is not null
    group by left(grid_code, 12)
),

taking_part as (
    select
        community_code,
        cast(date_trunc('quarter', occurred_date) as date) as quarter_start_date,
        count(distinct community_household_key) as households_taking_part
    from entries
    where community_code is not null
    group by community_code, cast(date_trunc('quarter', occurred_date) as date)
),

quarters as (
    select distinct quarter_start_date from taking_part
),

final as (
    select
        -- ids
        coalesce(taking_part.community_code, register_households.community_code) as community_code,
        quarters.quarter_start_date,
        -- the rate
        coalesce(taking_part.households_taking_part, 0) as households_taking_part,
        coalesce(register_households.households, 0) as register_households,
        case when coalesce(register_households.households, 0) > 0
            then cast(coalesce(taking_part.households_taking_part, 0) as double) / register_households.households end
            as participation_rate
    from quarters
    cross join (
        select community_code from register_households
        union
        select community_code from taking_part
    ) as communities
    left join taking_part
        on communities.community_code = taking_part.community_code
        and quarters.quarter_start_date = taking_part.quarter_start_date
    left join register_households
        on communities.community_code = register_households.community_code
)

select * from final
