{#- One row per resource (资源编号): the version with the latest 状态时间, on a tie the later delivery.
    registrant_key names who stands behind it whatever its number: the person's key for a party member or
    volunteer with a usable ID, the 统一社会信用代码 for a unit with a valid one, else the number itself (a
    resource cancelled and registered again under a new 资源编号 keeps its registrant). -#}
with

source as (
    select * from {{ source('normalised', 'service_lists') }}
    where list_kind = 'resource' and resource_id is not null
),

files as (
    {{ files_delivered() }}
),

current_version as (
    {{ latest_wins('source', 'files', 'resource_id', 'status_at') }}
),

final as (
    select
        -- ids
        resource_id,
        coalesce(
            case when is_person_resource then 'person:' || person_key end,
            case when credit_code_status = 'valid' then 'unit:' || unit_credit_code end,
            'resource:' || resource_id
        ) as registrant_key,
        person_key,
        -- the resource
        resource_type,
        coalesce(is_person_resource, false) as is_person_resource,
        case when is_person_resource then name_masked else unit_name end as display_name,
        unit_credit_code,
        credit_code_status,
        employer,
        service_categories,
        service_scope,
        registered_date,
        status,
        status_at,
        version_count,
        substr(resource_id, 3, 12) as community_code,
        -- provenance
        {{ record_locator() }} as record_locator,
        delivered_date,
        data_date,
        feed,
        file,
        file_md5,
        record_no
    from current_version
)

select * from final
