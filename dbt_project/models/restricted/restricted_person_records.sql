{#- The only relation in the warehouse with normalised identifiers (ID
    number, name, phone, raw address). Linkage reads it; marts never do.

    Incremental by delivered file: a file's person records are immutable
    (restricted/person_records/<md5>.parquet), so a run appends the files not
    yet in the table and deletes the rows of files no longer there; the table
    equals a full rebuild. zhili rebuilds it (--full-refresh) whenever the
    dbt project's code changed since the last build. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where file_md5 not in (select parse_filename(file, true) from glob('{{ env_var('ZHILI_HOME', '.zhili') }}/restricted/person_records/*.parquet')){% endif %}",
) }}
{%- set folder = env_var('ZHILI_HOME', '.zhili') ~ '/restricted/person_records' -%}
{%- set new_files = [] -%}
{%- if execute and is_incremental() -%}
    {%- set query -%}
        select file from glob('{{ folder }}/*.parquet')
        where parse_filename(file, true) not in (select distinct file_md5 from {{ this }})
        order by file
    {%- endset -%}
    {%- set new_files = run_query(query).columns[0].values() -%}
{%- endif %}
with

source as (
    {%- if not is_incremental() %}
    select * from {{ source('restricted', 'person_records') }}
    {%- elif new_files | length > 0 %}
    select * from read_parquet([{% for f in new_files %}'{{ f }}'{{ ", " if not loop.last }}{% endfor %}], union_by_name = true)
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
        coalesce(member_no, 1) as member_no,
    from source
)

select * from final
