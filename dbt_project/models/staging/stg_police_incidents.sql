{#- One row per incident: the current version (docs block latest_wins). -#}
with

source as (
    select * from {{ source('normalised', 'police_incidents') }}
    where incident_id is not null
),

files as (
    {{ files_delivered() }}
),

current_version as (
    {{ latest_wins('source', 'files', 'incident_id', 'feedback_at') }}
),

final as (
    select
        -- ids
        incident_id,
        person_key as caller_person_key,
        -- call
        received_at,
        report_channel,
        is_anonymous,
        category,
        subcategory,
        narrative_chars,
        police_station,
        -- outcome
        outcome,
        feedback_at,
        -- caller (masked)
        id_status as caller_id_status,
        id_masked as caller_id_masked,
        name_masked as caller_name_masked,
        phone_masked as caller_phone_masked,
        -- placement
        lon,
        lat,
        coordinate_status,
        {{ placement_columns() }}
        -- provenance of the current version
        version_count,
        delivered_date,
        data_date,
        {{ locator_columns(exclude=['member_no'], last_comma=false) }}
    from current_version
)

select * from final
