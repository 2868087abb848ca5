{#- One row per need (需求编号) as its latest version stands, placed in its community (the key's) and grid
    (its address, when in that community), with the resource that took it, its household (through the
    resident's membership on the day it was posted) and the flags the indicators and warnings count. -#}
{%- set unaccepted_days = var('service_unaccepted_days', 3) -%}
with

needs as (
    select * from {{ ref('int_service_needs_delivered') }}
),

resources as (
    select * from {{ ref('stg_service_resources') }}
),

members as (
    select * from {{ ref('bridge_household_member') }}
    where person_key is not null
),

as_of as (
    select
        {{ as_of_date() }} as as_of_date,
        {{ start_of_day_at(dbt.dateadd('day', 1, as_of_date())) }} as as_of_end_at
),

-- the same resident posting the same category minutes apart (a double tap): the later one repeats
repeats as (
    select later.need_id
    from needs as later
    inner join needs as earlier
        on later.person_key = earlier.person_key
        and later.category = earlier.category
        and later.need_id <> earlier.need_id
        and earlier.posted_at <= later.posted_at
        and later.posted_at - earlier.posted_at <= interval 10 minute
        and (earlier.posted_at < later.posted_at or earlier.need_id < later.need_id)
    group by later.need_id
),

households as (
    select
        needs.need_id,
        min(members.household_key) as household_key
    from needs
    inner join members
        on needs.person_key = members.person_key
        and members.valid_from <= needs.posted_date
        and (members.valid_to is null or members.valid_to > needs.posted_date)
    group by needs.need_id
),

final as (
    select
        -- ids
        needs.need_id,
        needs.person_key,
        households.household_key,
        needs.resource_id,
        resources.registrant_key as resource_registrant_key,
        needs.project_id,
        -- the need
        needs.category,
        needs.channel,
        needs.is_wish,
        needs.status,
        needs.status_at,
        needs.posted_at,
        needs.posted_date,
        needs.dispatched_at,
        needs.accepted_at,
        needs.closed_at,
        {{ zhili_local_date('needs.closed_at') }} as closed_date,
        needs.satisfaction,
        resources.resource_type,
        -- where: the key's community; the address's grid when it lies in it
        coalesce(needs.keyed_community_code, needs.community_code) as community_code,
        case
            when left(needs.grid_code, 12) = coalesce(needs.keyed_community_code, needs.community_code)
                then needs.grid_code
        end as grid_code,
        left(coalesce(needs.keyed_community_code, needs.community_code), 9) as street_code,
        left(coalesce(needs.keyed_community_code, needs.community_code), 6) as county_code,
        needs.placement_method,
        -- flags
        needs.status = '已撤销' as is_withdrawn,
        needs.status = '已办结' as is_closed,
        needs.status in ('待派单', '已派单') as is_unaccepted,
        needs.status in ('待派单', '已派单', '已接单', '办理中') as is_open,
        needs.accepted_at is not null and needs.accepted_at <= needs.posted_at + interval 1 day
            as is_accepted_within_day,
        needs.status = '已办结'
            and {{ zhili_local_date('needs.closed_at') }} = needs.posted_date as is_closed_same_day,
        needs.satisfaction in ('满意', '基本满意') as is_satisfied,
        needs.status = '已办结' and needs.satisfaction is not null as is_rated,
        needs.accepted_at < needs.dispatched_at as is_accepted_before_dispatch,
        needs.status = '已办结' and needs.accepted_at is null as is_closed_without_accept,
        resources.service_scope is not null
            and resources.service_scope <> '全区'
            and not {{ zhili_split_contains(
                'resources.service_scope', "';'", 'coalesce(needs.keyed_community_code, needs.community_code)'
            ) }} as is_out_of_scope,
        repeats.need_id is not null as is_possible_double_tap,
        -- {{ unaccepted_days }} days after it was posted (by the end of the reporting date) it had been neither
        -- accepted nor ended (办结, 撤销, 无法办理): what was true then, whether or not accepted since
        needs.posted_at + interval {{ unaccepted_days }} day <= as_of.as_of_end_at
            and coalesce(needs.accepted_at > needs.posted_at + interval {{ unaccepted_days }} day, true)
            and coalesce(
                case
                    when needs.status = '已办结' then needs.closed_at
                    when needs.status in ('已撤销', '无法办理') then needs.status_at
                end > needs.posted_at + interval {{ unaccepted_days }} day,
                true
            ) as is_unaccepted_overdue,
        -- provenance
        needs.version_count,
        needs.record_locator
    from needs
    cross join as_of
    left join resources on needs.resource_id = resources.resource_id
    left join repeats on needs.need_id = repeats.need_id
    left join households on needs.need_id = households.need_id
)

select * from final
