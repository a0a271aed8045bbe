{{ config(persist=true) }}
{#- Every raw bt_users_transactions row, parsed, with its quarantine reason (NULL = clean): the
    catalogue's checks (macros/quarantine_rules.sql), its 'row' checks first, then the 'user'
    one, which looks the user up in the onboarding. Identical rows are all kept: without a
    transaction id they may be distinct transactions. -#}
{%- set raw_columns = ['row_index', 'user_id', 'transaction_dt', 'type', 'segment'] -%}

with onboarded_users as (
    select distinct user_id
    from {{ ref('stg_onboarding') }}
    where is_clean
),

-- the file as read: every value a string, kept whole in `raw` for the quarantine
raw_rows as (
    select
        {{ row_key(raw_columns) }} as row_key,
        _file as source_file,
        {{ raw_struct(raw_columns) }} as raw
    from {{ source('raw', 'bt_users_transactions') }}
),

ids_cleaned as (
    select
        *,
        {{ unique_row_id('row_key') }} as row_id,
        {{ clean_text('raw.user_id') }} as user_id
    from raw_rows
),

-- timestamp (truncated to microseconds), type and segment, NULL when empty or unparseable
parsed as (
    select
        *,
        {{- parsed_columns('bt_users_transactions') }}
    from ids_cleaned
),

row_checked as (
    select
        *,
        {{ quarantine_reason('bt_users_transactions', 'row') }} as row_reason
    from parsed
),

looked_up as (
    select
        t.*,
        o.user_id is not null as is_onboarded_user
    from row_checked as t
    left join onboarded_users as o
        on t.user_id = o.user_id
),

reasoned as (
    select
        *,
        coalesce(row_reason, {{ quarantine_reason('bt_users_transactions', 'user') }})
            as quarantine_reason
    from looked_up
)

select
    row_id,
    source_file,
    -- clean rows' values are the parsed columns: only quarantined rows keep their raw copy
    case when quarantine_reason is not null then {{ raw_values(raw_columns, 'raw.') }} end as raw_values,
    user_id,
    transaction_dt as transaction_ts,
    cast(transaction_dt as date) as transaction_date,
    type,
    segment,
    quarantine_reason,
    quarantine_reason is not null as is_quarantined,
    quarantine_reason is null as is_clean,
    -- coalesce: keeps the column NOT NULL, as max() is typed nullable
    coalesce(max(quarantine_reason is null) over (partition by user_id), false) as user_has_clean_row
from reasoned
