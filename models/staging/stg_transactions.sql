{{ config(persist=true) }}
{#- Every raw transaction row, parsed, with its quarantine reason (NULL = clean). Identical rows
    are all kept: without a transaction id they may be distinct transactions. -#}
{%- set raw_columns = ['row_index', 'user_id', 'transaction_dt', 'type', 'segment'] -%}
{%- set typed_columns = {'transaction_dt': 'timestamp', 'type': 'int', 'segment': 'int'} -%}

with keyed as (
    {{ keyed_raw_rows(source('raw', 'bt_users_transactions'), raw_columns) }}
),

onboarded_users as (
    select distinct user_id
    from {{ ref('stg_onboarding') }}
    where is_clean
),

parsed as (
    select
        {{ unique_row_id('row_key') }} as row_id,
        _file as source_file,
        raw_values,
        {{ clean_text('user_id') }} as user_id,
        {{ parse_timestamp('transaction_dt') }} as transaction_ts,
        {{ parse_int('type') }} as type,
        {{ parse_int('segment') }} as segment,
        case
            {{- raw_row_reasons(typed_columns) }}
            when {{ clean_text('transaction_dt') }} is null then 'missing_transaction_dt'
        end as row_reason
    from keyed
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
    row_id,
    source_file,
    raw_values,
    user_id,
    transaction_ts,
    cast(transaction_ts as date) as transaction_date,
    type,
    segment,
    quarantine_reason,
    quarantine_reason is not null as is_quarantined,
    quarantine_reason is null as is_clean
from reasoned
