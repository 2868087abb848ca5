{#- 供需缺口: one row per community x 需求类别 with demand or supply, as of the reporting date: needs still open,
    needs posted in the last {{ var('service_gap_window_days', 7) }} days (not withdrawn), and the active
    resources (状态 可用) whose 服务类别 includes the category and whose 服务范围 covers the community (全区 covers
    every one), counted as resources and as registrants (a re-registered resource is one registrant). -#}
{%- set window_days = var('service_gap_window_days', 7) -%}
with

as_of as (
    select {{ as_of_date() }} as as_of_date
),

needs as (
    select fct_service_need.*
    from {{ ref('fct_service_need') }}
    cross join as_of
    where posted_date <= as_of.as_of_date and category is not null
),

resources as (
    select * from {{ ref('dim_service_resource') }}
    where is_active
),

communities as (
    select distinct community_code from {{ ref('dim_grid') }} where community_code is not null
    union
    select distinct community_code from needs
),

demand as (
    select
        needs.community_code,
        needs.category,
        count(*) filter (where needs.is_open) as open_needs,
        count(*) filter (where not needs.is_withdrawn and needs.posted_date > as_of.as_of_date - {{ window_days }})
            as recent_needs,
        -- the recent ones only: string_agg skips the NULL of the others (a filter would follow Spark's
        -- `within group`, which its grammar does not take)
        {{ zhili_string_agg(
            'case when not needs.is_withdrawn and needs.posted_date > as_of.as_of_date - ' ~ window_days
                ~ ' then needs.need_id end',
            "';'",
            'needs.need_id',
        ) }} as recent_need_ids,
        max(needs.posted_at) filter (where not needs.is_withdrawn) as last_posted_at
    from needs
    cross join as_of
    group by needs.community_code, needs.category
),

categories as (
    select resource_id, registrant_key, service_scope, trim(category) as category
    from (
        select
            resources.resource_id,
            resources.registrant_key,
            resources.service_scope,
            {{ zhili_split_rows('resources.service_categories', "'、'") }} as category
        from resources
    ) as split_categories
),

supply as (
    select
        communities.community_code,
        categories.category,
        count(distinct categories.resource_id) as active_resources,
        count(distinct categories.registrant_key) as active_registrants
    from categories
    inner join communities
        on categories.service_scope = '全区'
        or {{ zhili_split_contains('categories.service_scope', "';'", 'communities.community_code') }}
    group by communities.community_code, categories.category
),

final as (
    select
        coalesce(demand.community_code, supply.community_code) as community_code,
        coalesce(demand.category, supply.category) as category,
        coalesce(demand.open_needs, 0) as open_needs,
        coalesce(demand.recent_needs, 0) as recent_needs,
        demand.recent_need_ids,
        demand.last_posted_at,
        coalesce(supply.active_resources, 0) as active_resources,
        coalesce(supply.active_registrants, 0) as active_registrants,
        coalesce(demand.open_needs, 0) - coalesce(supply.active_resources, 0) as open_needs_over_resources,
        coalesce(demand.recent_needs, 0) > 0 and coalesce(supply.active_resources, 0) = 0
            as has_demand_without_supply,
        as_of.as_of_date
    from demand
    full outer join supply
        on demand.community_code = supply.community_code
        and demand.category = supply.category
    cross join as_of
)

select * from final
