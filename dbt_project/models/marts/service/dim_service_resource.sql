{#- One row per resource (资源编号) as its latest version stands, with the needs it took and whether it sits
    idle. A resource cancelled and registered again under a new number is two rows sharing registrant_key;
    idleness is judged on the registrant (a re-registered unit's needs under its old number count). -#}
{%- set idle_days = var('service_idle_days', 30) -%}
with

resources as (
    select * from {{ ref('stg_service_resources') }}
),

needs as (
    select * from {{ ref('int_service_needs_delivered') }}
    where resource_id is not null
),

as_of as (
    select {{ as_of_date() }} as as_of_date
),

taken as (
    select
        resource_id,
        count(*) as needs_taken,
        max({{ zhili_local_date('coalesce(accepted_at, closed_at)') }}) as last_taken_date
    from needs
    group by resource_id
),

by_registrant as (
    select
        resources.registrant_key,
        max(taken.last_taken_date) as registrant_last_taken_date,
        count(distinct resources.resource_id) as registrant_resource_count
    from resources
    left join taken on resources.resource_id = taken.resource_id
    group by resources.registrant_key
),

final as (
    select
        -- ids
        resources.resource_id,
        resources.registrant_key,
        resources.person_key,
        -- the resource
        resources.resource_type,
        resources.is_person_resource,
        resources.display_name,
        resources.credit_code_status,
        resources.employer,
        resources.service_categories,
        resources.service_scope,
        resources.community_code,
        resources.registered_date,
        resources.status,
        resources.status_at,
        resources.status = '可用' as is_active,
        by_registrant.registrant_resource_count > 1 as is_re_registered,
        -- what it took
        coalesce(taken.needs_taken, 0) as needs_taken,
        taken.last_taken_date,
        by_registrant.registrant_last_taken_date,
        -- 闲置: active, and its registrant took no need in the last {{ idle_days }} days (nor ever)
        resources.status = '可用'
            and (
                by_registrant.registrant_last_taken_date is null
                or by_registrant.registrant_last_taken_date <= as_of.as_of_date - {{ idle_days }}
            ) as is_idle,
        -- provenance
        resources.record_locator
    from resources
    cross join as_of
    left join taken on resources.resource_id = taken.resource_id
    left join by_registrant on resources.registrant_key = by_registrant.registrant_key
)

select * from final
