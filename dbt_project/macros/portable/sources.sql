{#- The project's sources on either engine (issue 25; docs/spark.md). `source()` is dbt's own, dispatched:

    default__ (DuckDB): dbt's source relation, unchanged; dbt-duckdb reads the Parquet files through the source's
        `meta.external_location` (models/staging/_zhili__sources.yml).
    spark__: the same files read by Spark, `parquet.`<glob>``, from the same `external_location` (one place says
        where a source's files are): its read_parquet path, `{name}` as the table's name, and `filename = true`
        as Spark's `_metadata.file_path` named `filename`. Spark's file index skips names starting with `_`, so a
        folder holding only its zero-row `_empty.parquet` would have no schema on Spark: the glob also reads a
        visible copy of each folder's `_empty.parquet` under `<home>/spark/schemas/`, written before a Spark
        build by `python -m ingestion.spark_sources <home>` (zero rows, the current schema, as DuckDB reads the
        `_empty.parquet` itself). Columns are matched by name over the files (the profile's
        `spark.sql.parquet.mergeSchema`), as DuckDB's union_by_name.

    builtins.source is always called, so dbt's lineage (and Dagster's) is the same on both engines. -#}
{% macro source(source_name, table_name) -%}
    {{ return(adapter.dispatch('zhili_source', 'zhili')(source_name, table_name)) }}
{%- endmacro %}

{% macro default__zhili_source(source_name, table_name) -%}
    {{ return(builtins.source(source_name, table_name)) }}
{%- endmacro %}

{% macro spark__zhili_source(source_name, table_name) -%}
    {%- set relation = builtins.source(source_name, table_name) -%}
    {#- parsing, or a unit test's fixture in place of the source: dbt's own answer -#}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set location = zhili_source_location(source_name, table_name) -%}
    {%- set path = location.path -%}
    {%- set with_filename = modules.re.search('filename\s*=\s*true', location.options) is not none -%}
    {%- set home = env_var('ZHILI_HOME', '.zhili').rstrip('/') -%}
    {%- if '*' in path and path.startswith(home ~ '/') -%}
        {%- set relative = path[(home | length) + 1:] -%}
        {%- set folder = relative.rsplit('/', 1)[0] -%}
        {%- set glob = home ~ '/{' ~ relative ~ ',spark/schemas/' ~ folder ~ '/schema.parquet}' -%}
    {%- else -%}
        {%- set glob = path -%}
    {%- endif -%}
    {{ return('(select *' ~ (', _metadata.file_path as filename' if with_filename else '')
        ~ ' from parquet.`' ~ glob ~ '`)') }}
{%- endmacro %}

{#- Where a source's files are, from its `meta.external_location` (models/staging/_zhili__sources.yml, the one
    place that says it): {'path': the read_parquet path with `{name}` as the table's identifier, 'options': the
    text after it}. Execution time only (the graph). -#}
{% macro zhili_source_location(source_name, table_name) -%}
    {%- set nodes = graph.sources.values() | selectattr('source_name', 'equalto', source_name)
        | selectattr('name', 'equalto', table_name) | list -%}
    {%- set meta = {} -%}
    {%- do meta.update(nodes[0].source_meta or {}) -%}
    {%- do meta.update(nodes[0].meta or {}) -%}
    {%- set location = meta.get('external_location', '') -%}
    {%- set found = modules.re.match("^read_parquet\('([^']+)'(.*)\)$", location.strip()) -%}
    {%- if not found -%}
        {{ exceptions.raise_compiler_error(
            "source('" ~ source_name ~ "', '" ~ table_name ~ "') has no read_parquet('<path>', …) external_location"
            ~ " (models/staging/_zhili__sources.yml): " ~ (location | tojson)
        ) }}
    {%- endif -%}
    {{ return({'path': found.group(1).replace('{name}', nodes[0].identifier), 'options': found.group(2)}) }}
{%- endmacro %}

{#- Whether a source written by a Python asset has been written yet (the linkage asset's files do not exist
    before its first run): its location's path matches a file. Execution time only; false while parsing, so a
    model that reads the source only when it exists names it in a `-- depends_on:` comment for the lineage. -#}
{% macro zhili_source_exists(source_name, table_name) -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set path = zhili_source_location(source_name, table_name).path -%}
    {{ return(adapter.dispatch('zhili_path_exists', 'zhili')(path)) }}
{%- endmacro %}

{% macro default__zhili_path_exists(path) -%}
    {%- set found = run_query("select count(*) from glob('" ~ path ~ "')") -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- Spark cannot ask whether a path exists (a read of a missing path fails the query), so the path (under
    the home) is read through a glob with one more alternative that always exists, the anchor file
    `python -m ingestion.spark_sources <home>` writes, and what the glob lists besides the anchor is counted
    (binaryFile lists paths; no content is read). -#}
{% macro spark__zhili_path_exists(path) -%}
    {%- set home = env_var('ZHILI_HOME', '.zhili').rstrip('/') -%}
    {%- if not path.startswith(home ~ '/') -%}
        {{ exceptions.raise_compiler_error("zhili_path_exists on Spark: " ~ (path | tojson) ~ " is not under the home " ~ (home | tojson)) }}
    {%- endif -%}
    {%- set glob = home ~ '/{' ~ path[(home | length) + 1:] ~ ',spark/schemas/anchor}' -%}
    {%- set found = run_query(
        "select count(*) from binaryFile.`" ~ glob ~ "` where path not like '%/spark/schemas/anchor'") -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- Whether the Parquet file at `path` has a column named `column` (its schema only; no row read). -#}
{% macro zhili_parquet_has_column(path, column) -%}
    {{ return(adapter.dispatch('zhili_parquet_has_column', 'zhili')(path, column)) }}
{%- endmacro %}

{% macro default__zhili_parquet_has_column(path, column) -%}
    {%- set found = run_query("select count(*) from parquet_schema('" ~ path ~ "') where name = '" ~ column ~ "'") -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}

{% macro spark__zhili_parquet_has_column(path, column) -%}
    {{ return(column in run_query("select * from parquet.`" ~ path ~ "` limit 0").column_names) }}
{%- endmacro %}
