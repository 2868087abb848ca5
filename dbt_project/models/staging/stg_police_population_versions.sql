{#- The police register as versions (ingestion.versions): one row per 人员编号 and content, the normalised row
    of the first snapshot that showed it, valid [valid_from, valid_to) (valid_to null: in the latest
    snapshot). The store's greatest generation only: an older one is there just while a new one is written.
    (duckdb read_parquet filename: staging only) -#}
with

source as (
    select * from {{ source('versions', 'police_population') }}
),

final as (
    select {{ zhili_star_except(source('versions', 'police_population'), ['filename']) }}
    from source
    where filename = (select max(filename) from source)
)

select * from final
