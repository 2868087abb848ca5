{#- Incremental by delivered file: the one place that knows how a zone folder's files are listed and read.

    A zone folder keeps one immutable Parquet per delivered file, named by its md5 (plus `_empty.parquet`,
    zero rows with the schema, so a folder is never empty). An incremental model asks which files it has
    not seen yet (`zhili_new_files`), reads them (`zhili_read_files`), and drops what came from files that
    are gone (`zhili_delete_gone_files`, `zhili_gone_files`). Every engine-specific expression (DuckDB's
    glob(), parse_filename(), read_parquet()) sits in a `default__` implementation behind adapter.dispatch,
    so another engine (Spark: a listing of the folder's files and `parquet.<path>` reads) adds its own
    `spark__` macros without touching a model. -#}

{#- The folder of a zone table under the state folder (ZHILI_HOME): `zone` is normalised or restricted. -#}
{% macro zhili_zone_folder(zone, table) -%}
    {{- env_var('ZHILI_HOME', '.zhili') ~ '/' ~ zone ~ '/' ~ table -}}
{%- endmacro %}

{#- A select of (file, file_md5): one row per Parquet file in `folder`. -#}
{% macro zhili_folder_files(folder) -%}
    {{ return(adapter.dispatch('zhili_folder_files', 'zhili')(folder)) }}
{%- endmacro %}

{% macro default__zhili_folder_files(folder) -%}
    select file, parse_filename(file, true) as file_md5 from glob('{{ folder }}/*.parquet')
{%- endmacro %}

{#- A select of the rows of the Parquet `files` (a list of paths; at least one), columns matched by name. -#}
{% macro zhili_read_files(files) -%}
    {{ return(adapter.dispatch('zhili_read_files', 'zhili')(files)) }}
{%- endmacro %}

{% macro default__zhili_read_files(files) -%}
    select * from read_parquet([{% for f in files %}'{{ f }}'{{ ", " if not loop.last }}{% endfor %}], union_by_name = true)
{%- endmacro %}

{#- The files of `folder` whose md5 `relation` does not hold yet in `md5_column` (among its rows matching
    `where`, a SQL condition), sorted; every file when the relation does not exist (yet). Runs a query, so
    it answers only at execution time: an empty list at parse time. -#}
{% macro zhili_new_files(folder, relation, md5_column='file_md5', where=none, recount=false) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        select file from ({{ zhili_folder_files(folder) }}) as files
        {%- if relation is not none %}
        where file_md5 not in (
            select {{ md5_column }} from {{ relation }}
            where {{ md5_column }} is not null{% if where %} and ({{ where }}){% endif %}
        )
        {%- if recount %}
        or file_md5 in ({{ zhili_recounted_files(folder, relation, md5_column) }})
        {%- endif %}
        {%- endif %}
        order by file
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}

{#- A select of the md5s `relation` holds in `md5_column` (among its rows matching `where`) whose file is
    no longer in `folder`: a delivery withdrawn from the zone. -#}
{% macro zhili_gone_files(folder, relation, md5_column='file_md5', where=none) -%}
    select distinct {{ md5_column }} from {{ relation }}
    where {{ md5_column }} not in (select file_md5 from ({{ zhili_folder_files(folder) }}) as files)
    {%- if where %} and ({{ where }}){% endif %}
{%- endmacro %}

{#- A select of the md5s of files in `folder` holding another number of rows than `relation` holds of them
    (one row per row of the file): a file rewritten since, read again whole. A register snapshot's person
    records are its versions' (ingestion.versions.write_version_records): a late snapshot adds the record of
    a version it re-points to the next snapshot's file, and a home from before that grain has each snapshot's
    file cut to its versions' records once. Row counts from the Parquet footers: no file is read. -#}
{% macro zhili_recounted_files(folder, relation, md5_column='file_md5') -%}
    {{ return(adapter.dispatch('zhili_recounted_files', 'zhili')(folder, relation, md5_column)) }}
{%- endmacro %}

{% macro default__zhili_recounted_files(folder, relation, md5_column) -%}
    select files.file_md5
    from (
        select parse_filename(file_name, true) as file_md5, sum(num_rows) as file_rows
        from parquet_file_metadata('{{ folder }}/*.parquet')
        group by all
    ) as files
    inner join (
        select {{ md5_column }} as file_md5, count(*) as held_rows from {{ relation }} group by all
    ) as held
        on files.file_md5 = held.file_md5
    where files.file_rows <> held.held_rows
{%- endmacro %}

{#- A pre-hook for a model incremental by file: delete from it the rows of files gone from `folder` (and, with
    `recount`, of files rewritten since: zhili_recounted_files, read again whole). -#}
{% macro zhili_delete_gone_files(folder, md5_column='file_md5', where=none, recount=false) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ md5_column }} in ({{ zhili_gone_files(folder, this, md5_column, where) }})
        {%- if recount %}
            or {{ md5_column }} in ({{ zhili_recounted_files(folder, this, md5_column) }})
        {%- endif %}
    {%- endif -%}
{%- endmacro %}

{#- The file tracker `name` (in the intermediate schema) when it exists: a model incremental by key cannot
    ref() it, as the tracker runs after it (it records what the keyed models have built in). -#}
{% macro zhili_file_tracker(name) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(database=this.database, schema=generate_schema_name('intermediate', none), identifier=name)) }}
{%- endmacro %}

{#- A select of the keys (`touched_key`) that the files new to `tracker` or gone from the zone touch:
    `tables` maps a normalised table to its key column; `tracker` holds (zone_table, file_md5, touched_key)
    for every file already built in. A key is touched when any file that carries it arrived or went, and a
    model recomputes it from all its rows in all files (a late update to an old key, a step a day late),
    never from the new rows only. With no tracker (yet), every key is touched: the model rebuilds whole. -#}
{% macro zhili_touched_keys(tracker, tables) -%}
    {%- for table, key in tables.items() %}
    {{ "union" if not loop.first }}
    {%- if tracker is none %}
    select {{ key }} as touched_key from {{ source('normalised', table) }}
    {%- else %}
    {%- set folder = zhili_zone_folder('normalised', table) %}
    {%- set mine = "zone_table = '" ~ table ~ "'" %}
    {%- set new_files = zhili_new_files(folder, tracker, where=mine) %}
    select touched_key from {{ tracker }}
    where {{ mine }} and file_md5 in ({{ zhili_gone_files(folder, tracker, where=mine) }})
    {%- if new_files | length > 0 %}
    union
    select {{ key }} as touched_key from ({{ zhili_read_files(new_files) }}) as new_rows
    {%- endif %}
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- A pre-hook for a model incremental by key: delete the keys the new or gone files touch, so that a key
    whose rows all went (a withdrawn file) goes too; the model then inserts them recomputed. -#}
{% macro zhili_delete_touched_keys(key_column, tracker_name, tables) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ key_column }} in ({{ zhili_touched_keys(zhili_file_tracker(tracker_name), tables) }})
    {%- endif -%}
{%- endmacro %}

{#- The body of a file tracker: one row per (zone_table, file_md5, touched_key) of the files of `tables`
    (normalised table -> key column) not tracked yet; every file on a full build. Its pre-hooks are
    `zhili_delete_gone_files` per table. -#}
{% macro zhili_file_tracker_rows(tables) -%}
    {%- for table, key in tables.items() %}
    {{ "union all" if not loop.first }}
    {%- set new_files = zhili_new_files(zhili_zone_folder('normalised', table), this, where="zone_table = '" ~ table ~ "'") if is_incremental() else none %}
    select distinct
        cast('{{ table }}' as {{ dbt.type_string() }}) as zone_table,
        file_md5,
        {{ key }} as touched_key
    {%- if new_files is none %}
    from {{ source('normalised', table) }}
    {%- elif new_files | length > 0 %}
    from ({{ zhili_read_files(new_files) }}) as new_rows
    {%- else %}
    from {{ source('normalised', table) }} where false
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- The pre-hooks of a file tracker: one `zhili_delete_gone_files` per normalised table of `tables`, as
    strings rendered when the hook runs. -#}
{% macro zhili_file_tracker_hooks(tables) -%}
    {%- set hooks = [] -%}
    {%- for table in tables -%}
        {%- do hooks.append(
            "{{ zhili_delete_gone_files(zhili_zone_folder('normalised', '" ~ table ~ "'), where=\"zone_table = '"
            ~ table ~ "'\") }}"
        ) -%}
    {%- endfor -%}
    {{ return(hooks) }}
{%- endmacro %}
