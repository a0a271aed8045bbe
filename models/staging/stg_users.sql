{{ config(persist=true) }}
{#- Every raw dim_users row, parsed, with its quarantine reason (NULL = clean). -#}
{%- set raw_columns = ['row_index', 'user_id', 'name', 'email', 'address', 'birth_dt', 'phone',
    'type', 'rubro'] -%}
{%- set typed_columns = {'birth_dt': 'date', 'type': 'int', 'rubro': 'int'} -%}

with keyed as (
    {{ keyed_raw_rows(source('raw', 'dim_users'), raw_columns) }}
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
            {{- raw_row_reasons(typed_columns) }}
        end as quarantine_reason
    from keyed
)

select
    *,
    quarantine_reason is not null as is_quarantined,
    quarantine_reason is null as is_clean
from parsed
