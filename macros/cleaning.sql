{#- Parsing raw STRING columns and keying raw rows. Every parser returns NULL for an empty value
    and for a value that does not parse; the quarantine catalogue (quarantine_rules.sql) tells
    the two apart. -#}

{% macro clean_text(column) -%}
nullif(trim({{ column }}), '')
{%- endmacro %}


{% macro parse_date(column) -%}
{#- YYYY-MM-DD or YYYY-MM-DD 00:00:00: the same date. try_cast turns 2022-02-30 into NULL. -#}
case
    when trim({{ column }}) rlike '^[0-9]{4}-[0-9]{2}-[0-9]{2}( 00:00:00)?$'
        then try_cast(substr(trim({{ column }}), 1, 10) as date)
end
{%- endmacro %}


{% macro parse_timestamp(column) -%}
{#- Spark timestamps hold microseconds: keep at most 6 fractional digits, truncating (never
    rounding, which could move 23:59:59.9999999 to the next day). -#}
case
    when trim({{ column }}) rlike '^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?)?$'
        then try_cast(regexp_replace(trim({{ column }}), '([.][0-9]{1,6})[0-9]*$', '$1') as timestamp)
end
{%- endmacro %}


{% macro parse_int(column) -%}
{#- Integers, also when stored as floats with a zero fraction ('8.0'). -#}
case
    when trim({{ column }}) rlike '^[+-]?[0-9]+([.]0*)?$'
        then try_cast(regexp_extract(trim({{ column }}), '^([+-]?[0-9]+)', 1) as int)
end
{%- endmacro %}


{% macro parse_flag(column) -%}
{#- 0/1 flags, stored as 0, 1, 0.0 or 1.0. -#}
case
    when trim({{ column }}) rlike '^[01]([.]0*)?$' then cast(substr(trim({{ column }}), 1, 1) as int)
end
{%- endmacro %}


{% macro parse_value(column, kind) -%}
{%- if kind == 'date' -%}{{ parse_date(column) }}
{%- elif kind == 'timestamp' -%}{{ parse_timestamp(column) }}
{%- elif kind == 'int' -%}{{ parse_int(column) }}
{%- elif kind == 'flag' -%}{{ parse_flag(column) }}
{%- else -%}{{ clean_text(column) }}
{%- endif -%}
{%- endmacro %}


{% macro raw_values(columns, prefix='') -%}
{#- The row as the file held it (non-empty values only: CQL collections hold no nulls). With a
    `prefix` ('raw.'), the values are read from a struct of the raw columns: a struct is cheaper
    to carry through a shuffle than the map, which is then built only where it is kept. -#}
map_filter(
    map(
        {%- for column in columns + ['_corrupt_record'] %}
        '{{ column }}', {{ prefix }}`{{ column }}`,
        {%- endfor %}
        '_line', cast({{ prefix }}`_line` as string)
    ),
    (k, v) -> v is not null
)
{%- endmacro %}


{% macro raw_struct(columns) -%}
{#- The raw columns as one struct, for `raw_values(columns, 'raw.')` after a shuffle, with the
    source view's `_corrupt_record` and `_line` (the line the record starts on). -#}
named_struct(
    {%- for column in columns + ['_corrupt_record'] %}
    '{{ column }}', `{{ column }}`,
    {%- endfor %}
    '_line', cast(`_line` as string)
)
{%- endmacro %}


{% macro row_key(columns) -%}
{#- The file's row index plus a 64-bit fingerprint of the row's raw values (not of the file
    path). Each value is hashed after its null flag (xxhash64 skips nulls), so a value moved to
    another column changes the fingerprint. -#}
concat_ws(
    '-',
    coalesce(nullif(trim(`row_index`), ''), 'x'),
    lpad(hex(xxhash64(
        {%- for column in columns + ['_corrupt_record'] %}
        `{{ column }}` is null, `{{ column }}`{{ ',' if not loop.last }}
        {%- endfor %}
    )), 16, '0')
)
{%- endmacro %}


{% macro unique_row_id(row_key) -%}
{#- A row_key made unique: rows identical even in their file index get #1, #2, ... (which copy
    gets which number does not matter: nothing tells them apart). -#}
case
    when count(1) over (partition by {{ row_key }}) > 1
        then concat({{ row_key }}, '#', row_number() over (partition by {{ row_key }} order by {{ row_key }}))
    else {{ row_key }}
end
{%- endmacro %}


{% macro user_id_is_valid(column) -%}
coalesce({{ column }} rlike {{ sql_string(var('user_id_pattern')) }}, false)
{%- endmacro %}


{% macro sql_string(value) -%}
{#- A Jinja value as a Spark SQL string literal. -#}
'{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}
