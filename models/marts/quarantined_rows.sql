{{ config(materialized='cassandra', partition_key=['source'], clustering_key=['reason', 'row_id'], allow_empty=true) }}
{#- Every quarantined raw row: its source, reason, and values as the file held them, with `_line`
    (the line of the file its record starts on) and `_file`. The staging model of each source is
    the catalogue's (macros/quarantine_rules.sql). -#}
{%- for source_table, model in staging_models.items() %}
select
    '{{ source_table }}' as source,
    quarantine_reason as reason,
    row_id,
    {{ parse_int("raw_values['row_index']") }} as row_index,
    map_concat(raw_values, map('_file', source_file)) as raw
from {{ ref(model) }}
where is_quarantined
{{ 'union all' if not loop.last }}
{%- endfor %}
