{#- raw_text can hold identifiers: it stays in the Parquet zone (restricted),
    never in the warehouse. -#}
with

source as (
    select * from {{ source('pipeline', 'quarantine') }}
),

renamed as (
    select
        -- locator
        {{ record_locator() }} as record_locator,
        feed,
        -- quarantine/<table>/<md5>.parquet: the table is the parent folder
        regexp_extract(replace(filename, chr(92), '/'), '/quarantine/([^/]+)/[^/]+$', 1) as table_name,
        file,
        file_md5,
        sheet,
        record_no,
        member_no,
        -- why
        reason,
        message
    from source
)

select * from renamed
