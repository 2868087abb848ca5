{#- The only relation in the warehouse with normalised identifiers (ID
    number, name, phone, raw address). Linkage reads it; marts never do.

    Incremental by delivered file (restricted/person_records/<md5>.parquet):
    a run appends the files not yet in the table, deletes the rows of files
    no longer there, and reads again whole a file whose row count changed (a
    register snapshot's records are its versions', and a late snapshot adds
    one to the next snapshot's file); the table equals a full rebuild. zhili
    rebuilds it (--full-refresh) whenever the dbt project's code changed
    since the last build. -#}
{{ config(**zhili_incremental_config({
    'materialized': 'incremental',
    'incremental_strategy': 'append',
    'on_schema_change': 'fail',
    'pre_hook': "{{ zhili_delete_gone_files(zhili_zone_folder('restricted', 'person_records'), recount=true) }}",
})) }}
{%- set new_files = zhili_new_files(zhili_zone_folder('restricted', 'person_records'), this, recount=true) if is_incremental() else [] %}
with

source as (
    {%- if not is_incremental() %}
    select * from {{ source('restricted', 'person_records') }}
    {%- elif new_files | length > 0 %}
    {{ zhili_read_files(new_files) }}
    {%- else %}
    select * from {{ source('restricted', 'person_records') }} where false
    {%- endif %}
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
        {{ placement_columns() }}
        -- when and where from
        record_at,
        data_date,
        {{ locator_columns(exclude=['member_no']) }}
        coalesce(member_no, 1) as member_no
    from source
)

select * from final
