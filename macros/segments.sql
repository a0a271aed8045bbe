{#- Segment codes, names and the analysis population (vars `segments`, `include_unknown_segment`). -#}

{% macro segment_name(segment) -%}
case
    when {{ segment }} is null then 'unknown'
    when {{ is_individual_segment(segment) }} then 'individuals'
    when {{ is_seller_segment(segment) }} then 'sellers'
    else concat('segment_', {{ segment }})
end
{%- endmacro %}


{% macro selected_segments() -%}
{#- The var `segments` (a list of ints, checked by its var-types: declaration) as '1, 2'. -#}
{{- var('segments') | join(', ') -}}
{%- endmacro %}


{% macro in_population(segment) -%}
{#- True when a user with this segment belongs to the analysis population (never NULL). -#}
coalesce(
    {%- if selected_segments() %}
    {{ segment }} in ({{ selected_segments() }})
    {%- else %}
    false
    {%- endif %}
    {%- if var('include_unknown_segment') %}
    or {{ segment }} is null
    {%- endif %},
    false
)
{%- endmacro %}


{% macro population_segments() -%}
{#- One row per segment of the population, in var order: (segment, segment_name, segment_order). -#}
select segment, segment_name, segment_order
from values
    {%- for segment in selected_segments().split(', ') if segment %}
    ({{ segment }}, {{ segment_name(segment) }}, {{ loop.index }}),
    {%- endfor %}
    (cast(null as int), 'unknown', 999)
    as population_segments(segment, segment_name, segment_order)
{%- if not var('include_unknown_segment') %}
where segment is not null
{%- endif %}
{%- endmacro %}
