with

records as (
    select * from {{ ref('int_persons_resolved') }}
),

final as (
    select
        -- ids
        record_locator,
        person_key,
        link_method,
        is_linked,
        -- the record
        role,
        source_key,
        id_status,
        record_at,
        data_date,
        -- locator
        {{ locator_columns() }}
    from records
)

select * from final
