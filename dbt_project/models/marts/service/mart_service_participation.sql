{#- 双报到 participation: one row per community x quarter (up to the reporting date's quarter) with the serving
    party members registered there (在职党员 registrants: a member re-registered under a new 资源编号 is one)
    and how many of them took at least one need in the quarter (accepted it, or closed it without 接单). A
    member counts in a quarter when registered by its end and not cancelled before its start. -#}
with

as_of as (
    select {{ as_of_date() }} as as_of_date
),

members as (
    select * from {{ ref('dim_service_resource') }}
    where resource_type = '在职党员'
),

needs as (
    select
        fct_service_need.resource_id,
        {{ zhili_local_date('coalesce(fct_service_need.accepted_at, fct_service_need.closed_at)') }} as taken_date
    from {{ ref('fct_service_need') }}
    where resource_id is not null
),

quarters as (
    select distinct cast(date_trunc('quarter', taken_date) as date) as quarter_start
    from needs
    cross join as_of
    where taken_date <= as_of.as_of_date
    union
    select cast(date_trunc('quarter', as_of_date) as date) from as_of
),

serving as (
    select distinct
        members.community_code,
        quarters.quarter_start,
        members.registrant_key
    from members
    cross join quarters
    where coalesce(members.registered_date, quarters.quarter_start) < quarters.quarter_start + interval 3 month
        and not (
            members.status = '注销'
            and {{ zhili_local_date('members.status_at') }} < quarters.quarter_start
        )
),

took as (
    select distinct
        members.community_code,
        cast(date_trunc('quarter', needs.taken_date) as date) as quarter_start,
        members.registrant_key
    from needs
    inner join members on needs.resource_id = members.resource_id
    cross join as_of
    where needs.taken_date <= as_of.as_of_date
),

final as (
    select
        serving.community_code,
        serving.quarter_start,
        count(distinct serving.registrant_key) as serving_members,
        count(distinct took.registrant_key) as members_who_took_a_need,
        round(count(distinct took.registrant_key) / nullif(count(distinct serving.registrant_key), 0), 4)
            as participation_rate
    from serving
    left join took
        on serving.community_code = took.community_code
        and serving.quarter_start = took.quarter_start
        and serving.registrant_key = took.registrant_key
    group by serving.community_code, serving.quarter_start
)

select * from final
