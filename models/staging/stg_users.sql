{{ config(persist=true) }}
{#- Every raw dim_users row, parsed, with its quarantine reason (NULL = clean). Both windows are
    partitioned by the cleaned user_id: Spark shuffles the raw rows once, sorts them once, and
    parses them after the shuffle. -#}
{%- set raw_columns = ['row_index', 'user_id', 'name', 'email', 'address', 'birth_dt', 'phone',
    'type', 'rubro'] -%}
{%- set typed_columns = {'birth_dt': 'date', 'type': 'int', 'rubro': 'int'} -%}

with keyed as (
    select
        *,
        {{ row_key(raw_columns) }} as row_key,
        {{ clean_text('user_id') }} as clean_user_id
    from {{ source('raw', 'dim_users') }}
),

typed as (
    select
        *,
        {{ unique_row_id('row_key', partition_by='clean_user_id') }} as row_id,
        {{- typed_values(typed_columns) }}
    from keyed
),

parsed as (
    select
        row_id,
        _file as source_file,
        {{ raw_values(raw_columns) }} as raw_values,
        clean_user_id as user_id,
        {{ clean_text('name') }} as name,
        {{ clean_text('email') }} as email,
        {{ clean_text('address') }} as address,
        parsed_birth_dt as birth_dt,
        {{ clean_text('phone') }} as phone,
        parsed_type as type,
        parsed_rubro as rubro,
        case
            {{- raw_row_reasons(typed_columns) }}
        end as quarantine_reason
    from typed
)

select
    row_id,
    source_file,
    -- clean rows' values are the parsed columns: only quarantined rows keep their raw copy
    case when quarantine_reason is not null then raw_values end as raw_values,
    user_id,
    name,
    email,
    address,
    birth_dt,
    phone,
    type,
    rubro,
    quarantine_reason,
    quarantine_reason is not null as is_quarantined,
    quarantine_reason is null as is_clean,
    coalesce(max(quarantine_reason is null) over (partition by user_id), false) as user_has_clean_row
from parsed
