{#- The person tables at record grain (int_persons_resolved, person_source_links) are incremental by
    record: a run recomputes only the records of person-record files new to the model and the records whose
    linkage row changed since the model last built (the linkage step stamps each link with `link_run`, the
    number of the run that last changed it: ingestion.linkage.core.stamp_runs). Every other record's row
    stays as it was, which is what a full rebuild gives it: a record's own columns come from its immutable
    file, and its person from its unchanged link. -#}

{#- The linkage output's file (source('person_links', 'links'): restricted/person_links/links.parquet), for
    what only its path answers (its Parquet schema and metadata); its rows are read through source(). -#}
{% macro persons_links_path() -%}
    {{- zhili_source_location('person_links', 'links').path -}}
{%- endmacro %}

{#- What the links file holds: {'exists': bool, 'stamped': bool (it carries link_run), 'last_run': int (the
    number of the linkage run that wrote it)}.
    Runs queries, so it answers only at execution time (no file at parse time). -#}
{% macro persons_links_state() -%}
    {%- set state = {'exists': false, 'stamped': false, 'last_run': 0} -%}
    {%- if execute -%}
        {%- set path = persons_links_path() -%}
        {%- if zhili_source_exists('person_links', 'links') -%}
            {%- do state.update({'exists': true}) -%}
            {%- if zhili_parquet_has_column(path, 'link_run') -%}
                {#- the run that wrote the file (its metadata: ingestion.linkage.core.LINK_RUN_KEY), which
                    may be later than any stamp its rows still carry -#}
                {%- do state.update({'stamped': true, 'last_run': persons_links_last_run(path)}) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(state) }}
{%- endmacro %}

{#- The number of the linkage run that wrote the links file at `path`: the greater of its rows' greatest
    link_run and its metadata's (ingestion.linkage.core.LINK_RUN_KEY). -#}
{% macro persons_links_last_run(path) -%}
    {{ return(adapter.dispatch('persons_links_last_run', 'zhili')(path)) }}
{%- endmacro %}

{% macro default__persons_links_last_run(path) -%}
    {%- set last = run_query(
        "select greatest("
        ~ "coalesce((select max(link_run) from read_parquet('" ~ path ~ "')), 0), "
        ~ "coalesce((select max(try_cast(decode(value) as bigint)) from parquet_kv_metadata('" ~ path
        ~ "') where decode(key) = 'zhili_link_run'), 0))") -%}
    {{ return(last.columns[0].values()[0] | int) }}
{%- endmacro %}

{#- Spark's SQL reads no Parquet key-value metadata: the rows' greatest link_run only. The last run is read
    only by an incremental run (persons_records_to_build), which Spark does not do yet
    (zhili_incremental_config); the metadata is needed there once it does. -#}
{% macro spark__persons_links_last_run(path) -%}
    {%- set last = run_query("select coalesce(max(link_run), 0) from parquet.`" ~ path ~ "`") -%}
    {{ return(last.columns[0].values()[0] | int) }}
{%- endmacro %}

{#- The config of a person table incremental by record: delete+insert of the recomputed records (keyed by
    record_locator), after deleting the rows of person-record files gone from the zone (on Spark, for now, a
    table rebuilt each run: zhili_incremental_config). -#}
{% macro persons_incremental_by_record() -%}
    {{ return(zhili_incremental_config({
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': 'record_locator',
        'on_schema_change': 'fail',
        'pre_hook': "{{ zhili_delete_gone_files(zhili_zone_folder('restricted', 'person_records'), recount=true) }}",
    })) }}
{%- endmacro %}

{#- `where` condition (on the record's `locator` and `md5` columns) keeping the records to recompute in an
    incremental run: those of files `this` has not built in, and those whose link changed since `this` last
    built (link_run greater than the greatest it holds). When the links file was replaced by one with
    smaller run numbers (linkage output removed and linked afresh) or is gone, or carries no run numbers,
    every record that came from linkage is recomputed. True on a full build. -#}
{% macro persons_records_to_build(links, locator='record_locator', md5='file_md5') -%}
    {%- if not is_incremental() -%}
        true
    {%- elif not execute -%}
        false
    {%- else -%}
        {%- set new_files = zhili_new_files(zhili_zone_folder('restricted', 'person_records'), this, recount=true) -%}
        {%- set built = run_query("select coalesce(max(link_run), 0) from " ~ this).columns[0].values()[0] | int -%}
        (
        {%- if new_files | length > 0 %}
            {{ md5 }} in (
                {%- for f in new_files %}'{{ f.split('/')[-1][:-8] }}'{{ ", " if not loop.last }}{% endfor -%}
            )
        {%- else %}
            false
        {%- endif %}
        {%- if links.stamped and built <= links.last_run %}
            or {{ locator }} in (
                select record_locator from {{ source('person_links', 'links') }} where link_run > {{ built }}
            )
        {%- else %}
            {%- if built > 0 %}
            or {{ locator }} in (select record_locator from {{ this }} where link_run is not null)
            {%- endif %}
            {%- if links.exists %}
            or {{ locator }} in (select record_locator from {{ source('person_links', 'links') }})
            {%- endif %}
        {%- endif %}
        )
    {%- endif -%}
{%- endmacro %}
