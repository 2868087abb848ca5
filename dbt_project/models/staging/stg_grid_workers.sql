{#- One row per worker (工号) per monthly roster (the month named in the file): who served in that month,
    the row showing the grid at its end. A roster delivered again for the same month keeps its latest
    delivery. Staff: masked display forms only. -#}
with

source as (
    select * from {{ source('normalised', 'grid_workers') }}
    where worker_id is not null
),

files as (
    {{ files_delivered() }}
),

ranked as (
    select
        source.*,
        row_number() over (
            partition by source.worker_id, source.roster_month
            order by files.delivered_date desc nulls last, files.processed_at desc nulls last,
                source.file_md5 desc, source.record_no desc
        ) as version_rank
    from source
    left join files
        on source.file_md5 = files.file_md5
),

final as (
    select
        -- ids
        worker_id,
        roster_month,
        -- the worker (masked)
        worker_name_masked,
        worker_phone_masked,
        post,
        grid_code,
        micro_grid,
        pay_step,
        last_year_grade,
        -- dates
        hired_date,
        left_date,
        moved_date,
        -- provenance
        feed,
        file,
        file_md5,
        record_no
    from ranked
    where version_rank = 1
)

select * from final
