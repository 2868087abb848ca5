{#- Quarantined rows with their locator and reason; raw_text (which can hold
    identifiers) is left in the restricted Parquet zone. -#}
with

quarantine as (
    select * from {{ ref('stg_quarantine') }}
),

final as (
    select * from quarantine
)

select * from final
