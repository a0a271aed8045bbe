{#- One row per clean onboarding user with clean transactions: what happened in the onboarding
    window, the days d with 0 <= d - first_login_dt < var onboarding_days. -#}
with users as (
    select user_id, first_login_dt
    from {{ ref('stg_onboarding') }}
    where is_clean
),

window_transactions as (
    select
        t.user_id,
        t.transaction_ts,
        t.transaction_date,
        t.type,
        {{ is_collection('t.type') }} as is_collection
    from {{ ref('stg_transactions') }} as t
    inner join users as u
        on t.user_id = u.user_id
    where t.is_clean
        and datediff(t.transaction_date, u.first_login_dt) >= 0
        and datediff(t.transaction_date, u.first_login_dt) < {{ var('onboarding_days') }}
)

select
    user_id,
    cast(count(1) as int) as transactions_in_window,
    cast(count_if(is_collection) as int) as collections_in_window,
    cast(count(distinct transaction_date) as int) as transaction_days_in_window,
    array_sort(collect_set(type)) as transaction_types,
    -- dates in order, to find the day a habit threshold was reached
    array_sort(collect_set(transaction_date)) as transaction_days,
    array_sort(collect_list(case when is_collection then transaction_date end)) as collection_dates
from window_transactions
group by user_id
