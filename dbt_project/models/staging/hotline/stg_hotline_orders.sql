{#- One row per 12345 order: its current version (docs block latest_wins), GD rows and Open311
    requests alike. -#}
with

source as (
    select * from {{ source('normalised', 'hotline_orders') }}
    where order_id is not null
),

files as (
    {{ files_delivered() }}
),

current_version as (
    {{ latest_wins('source', 'files', 'order_id', 'updated_at') }}
),

final as (
    select
        -- ids
        order_id,
        person_key as caller_person_key,
        -- the call
        called_at,
        channel,
        is_anonymous,
        request_type,
        category,
        category_l1,
        category_l2,
        urgency,
        is_urgency_defaulted,
        content_chars,
        -- handling as the platform printed it
        holder_unit,
        dispatched_at,
        signed_at,
        due_at as printed_due_at,
        is_due_printed,
        status,
        closed_at,
        followed_up_at,
        followup_result,
        satisfaction,
        is_reopened,
        updated_at,
        source_format,
        -- caller (masked)
        id_status as caller_id_status,
        id_masked as caller_id_masked,
        name_masked as caller_name_masked,
        phone_masked as caller_phone_masked,
        -- placement: the address point, the coordinates, or the community the call-taker picked
        street_name as picked_street_name,
        community_name as picked_community_name,
        lon,
        lat,
        coordinate_status,
        address_code,
        grid_code,
        community_code,
        street_code,
        placement_method,
        -- provenance of the current version
        version_count,
        delivered_date,
        data_date,
        feed,
        file,
        file_md5,
        sheet,
        record_no
    from current_version
)

select * from final
