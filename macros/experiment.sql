{#- A/B assignment: deterministic, reproducible, the same in every engine that has xxhash64. -#}

{% macro ab_bucket(user_id, salt) -%}
cast(pmod(xxhash64(concat({{ salt }}, ':', {{ user_id }})), 10000) as int)
{%- endmacro %}


{% macro ab_group(bucket, control_share) -%}
case when {{ bucket }} < {{ control_share }} * 10000 then 'control' else 'treatment' end
{%- endmacro %}
