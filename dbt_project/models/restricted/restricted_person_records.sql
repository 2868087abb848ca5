{#- The only relation in the warehouse with normalised identifiers (ID
    number, name, phone, raw address). Linkage reads it; marts never do. -#}
with

source as (
    select * from {{ source('restricted', 'person_records') }}
),

final as (
    select
        -- ids
        {{ record_locator() }} as record_locator,
        person_key,
        role,
        source_key,
        -- identifiers (restricted)
        id_raw,
        id_number,
        id_status,
        doc_type,
        name_raw,
        name,
        name_status,
        phone,
        phones,
        phone_kind,
        address_raw,
        address_canonical,
        -- person
        sex,
        birth_date,
        -- placement
        address_code,
        grid_code,
        community_code,
        street_code,
        placement_method,
        -- when and where from
        record_at,
        data_date,
        feed,
        file,
        file_md5,
        sheet,
        record_no,
        coalesce(member_no, 1) as member_no,
    from source
)

select * from final
