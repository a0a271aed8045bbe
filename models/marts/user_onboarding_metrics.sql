{{ config(materialized='cassandra', partition_key=['user_id']) }}
{#- One row per user of the analysis population; read by user id. int_user_metrics selects exactly
    the contract's columns, in its order (docs/CONTRACTS.md). -#}
select *
from {{ ref('int_user_metrics') }}
