{#- The habit rule: Individuals (and unknown segment) need `habit_min_days` distinct transaction
    days in the window; Sellers need `habit_min_collections` collections (type 8/9) in it. -#}

{% macro habit_reached(segment, transaction_days, collections) -%}
case
    when {{ is_seller_segment(segment) }} then coalesce({{ collections }}, 0) >= {{ var('habit_min_collections') }}
    else coalesce({{ transaction_days }}, 0) >= {{ var('habit_min_days') }}
end
{%- endmacro %}


{% macro nth_element(sorted_array, n) -%}
{#- The n-th (1-based) element of an array, NULL when it is shorter (never an index error). -#}
case when size({{ sorted_array }}) >= {{ n }} then element_at({{ sorted_array }}, {{ n }}) end
{%- endmacro %}


{% macro habit_date(segment, day_list, collection_dates, first_login_dt) -%}
{#- The day the threshold was reached (a threshold of 0 is reached at the first login). -#}
{%- set min_collections = var('habit_min_collections') -%}
{%- set min_days = var('habit_min_days') -%}
case
    when {{ is_seller_segment(segment) }}
        then {{ nth_element(collection_dates, min_collections) if min_collections > 0 else first_login_dt }}
    else {{ nth_element(day_list, min_days) if min_days > 0 else first_login_dt }}
end
{%- endmacro %}
