with

ledger as (
    select * from {{ ref('stg_ledger') }}
),

final as (
    select * from ledger
)

select * from final
