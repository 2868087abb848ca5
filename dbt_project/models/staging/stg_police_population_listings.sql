{#- Every weekly register snapshot's rows, rebuilt from the versions: each snapshot's keys (with their own
    record locators) joined to the version valid on the snapshot's date. The same rows as the snapshot
    normalised to (one per 人员编号; a key listed twice resolves to the later record), without the
    register storing a full copy per week. Each row names its version's record (version_record_locator): the
    one person record of that version, which is how a week's row finds its person. -#}
with

versions as (
    select * from {{ ref('stg_police_population_versions') }}
),

snapshot_keys as (
    select * from {{ source('versions', 'police_population_keys') }}
),

final as (
    select
        {{ zhili_star_except(ref('stg_police_population_versions'), ['file', 'file_md5', 'sheet', 'record_no', 'member_no', 'data_date', 'content_hash', 'valid_from', 'valid_to'], 'versions') }},
        snapshot_keys.file,
        snapshot_keys.file_md5,
        snapshot_keys.sheet,
        snapshot_keys.record_no,
        snapshot_keys.member_no,
        snapshot_keys.data_date,
        -- the row the version is located at: the person record linkage saw for it (ingestion.versions: a
        -- register's person records are its versions', not every week's rows)
        {{ record_locator('versions.') }} as version_record_locator
    from snapshot_keys
    inner join versions
        on snapshot_keys.source_person_id = versions.source_person_id
        and versions.valid_from <= snapshot_keys.data_date
        and (versions.valid_to is null or versions.valid_to > snapshot_keys.data_date)
)

select * from final
