{#- Parsing raw STRING columns. Every parser returns NULL for an empty value and for a value that
    does not parse; `is_unparseable()` tells the two apart so staging can quarantine the latter. -#}

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


{% macro is_unparseable(column, kind) -%}
({{ clean_text(column) }} is not null and ({{ parse_value(column, kind) }}) is null)
{%- endmacro %}


{% macro unparseable_reasons(columns) -%}
{#- CASE branches, in column order: the first value that does not parse names the reason. -#}
{%- for column, kind in columns.items() %}
        when {{ is_unparseable('`' ~ column ~ '`', kind) }} then 'unparseable_{{ column }}'
{%- endfor %}
{%- endmacro %}


{% macro keyed_raw_rows(relation, columns) -%}
{#- Every row of `relation` with `raw_values` and `row_key`, computed once per row. -#}
select
    *,
    {{ row_key('raw_values', 'row_index') }} as row_key
from (
    select
        *,
        {{ raw_values(columns) }} as raw_values
    from {{ relation }}
) as raw
{%- endmacro %}


{% macro raw_row_reasons(typed_columns) -%}
{#- CASE branches every staging model starts with, first match wins: a record the CSV parser could
    not split, a malformed user_id, then the first typed value that does not parse. #}
        when _corrupt_record is not null then 'malformed_record'
        when not {{ user_id_is_valid(clean_text('user_id')) }} then 'malformed_user_id'
        {{- unparseable_reasons(typed_columns) }}
{%- endmacro %}


{% macro raw_values(columns) -%}
{#- The row as the file held it (non-empty values only: CQL collections hold no nulls). -#}
map_filter(
    map(
        {%- for column in columns %}
        '{{ column }}', `{{ column }}`,
        {%- endfor %}
        '_corrupt_record', _corrupt_record
    ),
    (k, v) -> v is not null
)
{%- endmacro %}


{% macro row_key(raw_map, row_index) -%}
{#- The file's row index plus a fingerprint of the row's values (not of the file path). -#}
concat_ws(
    '-',
    coalesce(nullif(trim({{ row_index }}), ''), 'x'),
    substr(sha2(to_json({{ raw_map }}), 256), 1, 12)
)
{%- endmacro %}


{% macro unique_row_id(row_key) -%}
{#- A row_key made unique: rows identical even in their index get #1, #2, ... -#}
concat(
    {{ row_key }},
    case
        when count(1) over (partition by {{ row_key }}) > 1
            then concat('#', row_number() over (partition by {{ row_key }} order by {{ row_key }}))
        else ''
    end
)
{%- endmacro %}


{% macro user_id_is_valid(column) -%}
coalesce({{ column }} rlike {{ sql_string(var('user_id_pattern')) }}, false)
{%- endmacro %}


{% macro sql_string(value) -%}
{#- A Jinja value as a Spark SQL string literal. -#}
'{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}
