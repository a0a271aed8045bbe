{#- The source files' domain codes, named. Segments (transactions' `segment`, the segment a user
    is given): 1 individuals, 2 sellers. Transaction types: 1-7 payments, 8 and 9 collections
    (cobros), which only sellers make. -#}

{% macro individual_segment() -%}1{%- endmacro %}


{% macro seller_segment() -%}2{%- endmacro %}


{% macro is_individual_segment(column) -%}
{{ column }} = {{ individual_segment() }}
{%- endmacro %}


{% macro is_seller_segment(column) -%}
{{ column }} = {{ seller_segment() }}
{%- endmacro %}


{% macro is_collection(type_column) -%}
{#- A collection (cobro) rather than a payment. -#}
{{ type_column }} in (8, 9)
{%- endmacro %}
