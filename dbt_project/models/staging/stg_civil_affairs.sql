{#- Monthly full roll per sheet (programme). A month's roll of a programme is
    the rows of the latest-delivered file holding that programme's sheet for
    that month, so a corrected resend replaces the first one. -#}
with

source as (
    select * from {{ source('normalised', 'civil_affairs') }}
    where programme is not null
),

files as (
    {{ files_delivered() }}
),

roll_files as (
    select
        source.data_date,
        source.programme,
        source.file_md5,
        row_number() over (
            partition by source.data_date, source.programme
            order by files.delivered_date desc nulls last, files.processed_at desc nulls last, source.file_md5 desc
        ) as file_rank
    from (select distinct data_date, programme, file_md5 from source) as source
    left join files
        on source.file_md5 = files.file_md5
),

current_roll as (
    select source.*
    from source
    inner join roll_files
        on source.data_date = roll_files.data_date
        and source.programme = roll_files.programme
        and source.file_md5 = roll_files.file_md5
    where roll_files.file_rank = 1
),

final as (
    select
        -- ids
        {{ record_locator() }} as record_locator,
        person_key,
        programme,
        data_date as month_date,
        -- person (masked)
        id_status,
        is_id_damaged,
        id_masked,
        name_masked,
        phone_masked,
        sex,
        birth_date,
        age,
        -- benefit
        relation_to_head,
        benefit_type,
        household_size,
        monthly_amount,
        start_date,
        support_mode,
        subsidy_type,
        disability_category,
        disability_grade,
        elderly_type,
        last_visit_date,
        -- placement
        community_name,
        street_name,
        {{ placement_columns() }}
        -- provenance
        {{ locator_columns(exclude=['member_no'], last_comma=false) }}
    from current_roll
)

select * from final
