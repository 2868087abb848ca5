{#- One row per project (项目编号) as its latest version stands, with its lead resource's registrant and how
    many needs and resources it names. -#}
with

projects as (
    select * from {{ ref('stg_service_projects') }}
),

resources as (
    select * from {{ ref('stg_service_resources') }}
),

final as (
    select
        projects.project_id,
        projects.project_name,
        projects.category,
        projects.community_code,
        projects.lead_resource_id,
        resources.registrant_key as lead_registrant_key,
        resources.resource_type as lead_resource_type,
        case when projects.need_ids is null then 0 else {{ zhili_split_count('projects.need_ids', "';'") }} end as need_count,
        case
            when projects.resource_ids is null then 0 else {{ zhili_split_count('projects.resource_ids', "';'") }}
        end as resource_count,
        projects.need_ids,
        projects.started_date,
        projects.planned_date,
        projects.completed_date,
        projects.status,
        projects.status_at,
        projects.status = '已完成' as is_completed,
        projects.beneficiaries,
        projects.funds,
        projects.record_locator
    from projects
    left join resources on projects.lead_resource_id = resources.resource_id
)

select * from final
