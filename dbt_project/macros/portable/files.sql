{#- Spark's implementations of the file macros of macros/incremental_files.sql (dispatched there, DuckDB's
    `default__` beside them): a zone folder's Parquet files listed and read on Spark.

    The listing reads no file: Spark's `binaryFile` source lists paths and lengths, and its content column is
    never selected. A path is Spark's URI form (`file:/…`), used only to read the same files back. Files are
    read by one path glob (`folder/{a.parquet,b.parquet}`) with columns matched by name as DuckDB's
    `union_by_name` does: the session's `spark.sql.parquet.mergeSchema` (the profile's spark target sets it). -#}

{% macro spark__zhili_folder_files(folder) -%}
    select path as file, regexp_replace(substring_index(path, '/', -1), '[.]parquet$', '') as file_md5
    from binaryFile.`{{ folder }}/*.parquet`
{%- endmacro %}

{% macro spark__zhili_read_files(files) -%}
    {%- set folders = [] -%}
    {%- set names = [] -%}
    {%- for f in files -%}
        {%- set parts = f.rsplit('/', 1) -%}
        {%- if parts[0] not in folders -%}{%- do folders.append(parts[0]) -%}{%- endif -%}
        {%- do names.append(parts[1]) -%}
    {%- endfor -%}
    {%- if folders | length != 1 -%}
        {{ exceptions.raise_compiler_error("zhili_read_files on Spark reads the files of one folder, not of " ~ (folders | length) ~ ": " ~ (folders | join(', '))) }}
    {%- endif -%}
    select * from parquet.`{{ folders[0] }}/{{ '{' ~ (names | join(',')) ~ '}' }}`
{%- endmacro %}
