{{ config(persist=true) }}
{#- Every raw transaction row, parsed, with its quarantine reason (NULL = clean). Identical rows
    are all kept: without a transaction id they may be distinct transactions. -#}
{%- set raw_columns = ['row_index', 'user_id', 'transaction_dt', 'type', 'segment'] -%}
{%- set typed_columns = {'transaction_dt': 'timestamp', 'type': 'int', 'segment': 'int'} -%}

with onboarded_users as (
    select distinct user_id
    from {{ ref('stg_onboarding') }}
    where is_clean
),

typed as (
    select
        *,
        {{- typed_values(typed_columns) }}
    from {{ source('raw', 'bt_users_transactions') }}
),

parsed as (
    select
        {{ row_key(raw_columns) }} as row_key,
        _file as source_file,
        {{ raw_struct(raw_columns) }} as raw,
        {{ clean_text('user_id') }} as user_id,
        parsed_transaction_dt as transaction_ts,
        parsed_type as type,
        parsed_segment as segment,
        case
            {{- raw_row_reasons(typed_columns) }}
            when {{ clean_text('transaction_dt') }} is null then 'missing_transaction_dt'
        end as row_reason
    from typed
),

reasoned as (
    select
        p.*,
        coalesce(p.row_reason, case when o.user_id is null then 'unknown_user' end)
            as quarantine_reason
    from parsed as p
    left join onboarded_users as o
        on p.user_id = o.user_id
)

select
    {{ unique_row_id('row_key', partition_by='user_id') }} as row_id,
    source_file,
    -- clean rows' values are the parsed columns: only quarantined rows keep their raw copy
    case when quarantine_reason is not null then {{ raw_values(raw_columns, 'raw.') }} end as raw_values,
    user_id,
    transaction_ts,
    cast(transaction_ts as date) as transaction_date,
    type,
    segment,
    quarantine_reason,
    quarantine_reason is not null as is_quarantined,
    quarantine_reason is null as is_clean,
    -- shares the shuffle by user_id of the join and of the row_id window
    coalesce(max(quarantine_reason is null) over (partition by user_id), false) as user_has_clean_row
from reasoned
