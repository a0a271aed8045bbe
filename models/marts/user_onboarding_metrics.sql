{{ config(materialized='cassandra', partition_key=['user_id']) }}
{#- One row per user of the analysis population; read by user id. -#}
select
    user_id,
    segment,
    segment_name,
    ab_group,
    ab_bucket,
    first_login_dt,
    week_year,
    `drop`,
    activation,
    setup,
    habit,
    habit_source,
    days_to_activation,
    days_to_setup,
    transactions_in_window,
    collections_in_window,
    milestones,
    transaction_types
from {{ ref('int_user_metrics') }}
