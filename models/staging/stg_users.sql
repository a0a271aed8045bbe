{{ config(persist=true) }}
{#- Every raw dim_users row, parsed, with its quarantine reason (NULL = clean): the catalogue's
    checks (macros/quarantine_rules.sql), 'row' checks, and a 'field' check (birth_dt) that
    keeps the row with the field NULL, named in nulled_fields. -#}
{%- set raw_columns = ['row_index', 'user_id', 'name', 'email', 'address', 'birth_dt', 'phone',
    'type', 'rubro'] -%}

-- the file as read: every value a string, kept whole in `raw` for the quarantine
with raw_rows as (
    select
        {{ row_key(raw_columns) }} as row_key,
        _file as source_file,
        {{ raw_struct(raw_columns) }} as raw
    from {{ source('raw', 'dim_users') }}
),

ids_cleaned as (
    select
        *,
        {{ unique_row_id('row_key') }} as row_id,
        {{ clean_text('raw.user_id') }} as user_id
    from raw_rows
),

-- text trimmed; birth date, type and rubro NULL when empty or unparseable
parsed as (
    select
        *,
        {%- for column in ['name', 'email', 'address', 'phone'] %}
        {{ clean_text('raw.' ~ column) }} as {{ column }},
        {%- endfor %}
        {{- parsed_columns('dim_users') }}
    from ids_cleaned
),

reasoned as (
    select
        *,
        {{ quarantine_reason('dim_users', 'row') }} as quarantine_reason
    from parsed
)

select
    row_id,
    source_file,
    -- clean rows' values are the parsed columns: only quarantined rows keep their raw copy
    case when quarantine_reason is not null then {{ raw_values(raw_columns, 'raw.') }} end as raw_values,
    user_id,
    name,
    email,
    address,
    birth_dt,
    phone,
    type,
    rubro,
    quarantine_reason,
    -- kept rows only: the 'field' checks failed, whose columns are NULL in place of the file's value
    case
        when quarantine_reason is null then {{ nulled_fields('dim_users') }}
        else cast(array() as array<string>)
    end as nulled_fields,
    quarantine_reason is not null as is_quarantined,
    quarantine_reason is null as is_clean,
    -- coalesce: keeps the column NOT NULL, as max() is typed nullable
    coalesce(max(quarantine_reason is null) over (partition by user_id), false) as user_has_clean_row
from reasoned
