{{ config(persist=true) }}
{#- Every raw dim_users row, parsed, with its quarantine reason (NULL = clean). -#}
{%- set raw_columns = ['row_index', 'user_id', 'name', 'email', 'address', 'birth_dt', 'phone',
    'type', 'rubro'] -%}
{%- set typed_columns = {'birth_dt': 'date', 'type': 'int', 'rubro': 'int'} -%}

with raw as (
    select
        *,
        {{ raw_values(raw_columns) }} as raw_values
    from {{ source('raw', 'dim_users') }}
),

keyed as (
    select
        *,
        {{ row_key('raw_values', 'row_index') }} as row_key
    from raw
),

parsed as (
    select
        {{ unique_row_id('row_key') }} as row_id,
        _file as source_file,
        raw_values,
        {{ clean_text('user_id') }} as user_id,
        {{ clean_text('name') }} as name,
        {{ clean_text('email') }} as email,
        {{ clean_text('address') }} as address,
        {{ parse_date('birth_dt') }} as birth_dt,
        {{ clean_text('phone') }} as phone,
        {{ parse_int('type') }} as type,
        {{ parse_int('rubro') }} as rubro,
        case
            when _corrupt_record is not null then 'malformed_record'
            when not {{ user_id_is_valid(clean_text('user_id')) }} then 'malformed_user_id'
            {{- unparseable_reasons(typed_columns) }}
        end as quarantine_reason
    from keyed
)

select
    *,
    quarantine_reason is not null as is_quarantined,
    quarantine_reason is null as is_clean
from parsed
