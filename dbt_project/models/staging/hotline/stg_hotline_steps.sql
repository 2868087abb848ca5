{#- One row per distinct process step of a 12345 order. A step never changes once taken, so the same
    step delivered again (a resend, or a day late beside an earlier copy) is one row; a step number
    that carries two different steps is kept twice (a badly kept order, flagged downstream). -#}
with

source as (
    select * from {{ source('normalised', 'hotline_steps') }}
    where order_id is not null
),

keyed as (
    select
        source.*,
        -- every part is coalesced: DuckDB's concat skips a NULL part, Spark's answers NULL
        {{ dbt.concat([
            'order_id', "'#'", "coalesce(cast(step_no as " ~ dbt.type_string() ~ "), '')", "'#'",
            "md5(" ~ dbt.concat([
                "coalesce(step, '')", "'|'", "coalesce(" ~ zhili_timestamp_text('step_at') ~ ", '')", "'|'",
                "coalesce(unit, '')", "'|'", "coalesce(" ~ zhili_timestamp_text('extended_to') ~ ", '')", "'|'",
                "coalesce(cast(note_chars as " ~ dbt.type_string() ~ "), '')",
            ]) ~ ")",
        ]) }} as step_key
    from source
),

first_delivery as (
    select * from (
        select
            keyed.*,
            row_number() over (partition by step_key order by data_date, file_md5, record_no) as delivery_rank,
            count(*) over (partition by step_key) as delivery_count
        from keyed
    ) as ranked
    where delivery_rank = 1
),

final as (
    select
        -- ids
        step_key,
        order_id,
        step_no,
        -- the step
        step,
        step_at,
        unit,
        staff_name_masked,
        note_chars,
        extended_to,
        -- provenance of its first delivery
        delivery_count,
        data_date,
        feed,
        file,
        file_md5,
        sheet,
        record_no
    from first_delivery
)

select * from final
