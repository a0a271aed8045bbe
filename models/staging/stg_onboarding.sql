{{ config(persist=true) }}
{#- Every raw onboarding row, parsed, with its quarantine reason (NULL = clean).
    `is_clean` marks the one row kept per clean user. Every window below is partitioned by
    user_id first, and the later ones need no other order: Spark shuffles and sorts once. -#}
{%- set raw_columns = ['row_index', 'unnamed_0', 'first_login_dt', 'week_year', 'user_id', 'habito',
    'habito_dt', 'activacion', 'activacion_dt', 'setup', 'setup_dt', 'return', 'return_dt'] -%}
{%- set typed_columns = {
    'first_login_dt': 'date', 'week_year': 'int', 'habito': 'flag', 'habito_dt': 'date',
    'activacion': 'flag', 'activacion_dt': 'date', 'setup': 'flag', 'setup_dt': 'date',
    'return': 'flag', 'return_dt': 'date'} -%}
{%- set ab_group_column = var('ab_group_column', none) -%}

with typed as (
    select
        *,
        {{- typed_values(typed_columns) }}
    from {{ source('raw', 'lk_onboarding') }}
),

parsed as (
    select
        {{ row_key(raw_columns) }} as row_key,
        {{ parse_int('row_index') }} as source_row_index,
        _file as source_file,
        {{ raw_struct(raw_columns) }} as raw,
        {{ clean_text('user_id') }} as user_id,
        {%- for column in typed_columns %}
        `parsed_{{ column }}` as `{{ column }}`,
        {%- endfor %}
        {%- if ab_group_column %}
        lower({{ clean_text(ab_group_column) }}) as ab_group_source,
        {%- else %}
        cast(null as string) as ab_group_source,
        {%- endif %}
        case
            {{- raw_row_reasons(typed_columns) }}
            when {{ clean_text('first_login_dt') }} is null then 'missing_first_login_dt'
        end as row_reason
    from typed
),

normalised as (
    select
        *,
        -- the row's content after parsing, hashed with null flags: equal for rows that differ
        -- only in date format or index
        xxhash64(
            {%- for column in ['user_id'] + (typed_columns | list) + ['ab_group_source'] %}
            `{{ column }}` is null, `{{ column }}`{{ ',' if not loop.last }}
            {%- endfor %}
        ) as normalised_row
    from parsed
),

numbered as (
    select
        *,
        {{ unique_row_id('row_key', partition_by='user_id') }} as row_id
    from normalised
),

reasoned as (
    select
        *,
        case
            when row_reason is not null then row_reason
            when size(collect_set(case when row_reason is null then normalised_row end)
                over (partition by user_id)) > 1 then 'conflicting_duplicate'
            when return_dt < first_login_dt
                or activacion_dt < first_login_dt
                or setup_dt < first_login_dt
                or habito_dt < first_login_dt then 'date_before_first_login'
        end as quarantine_reason
    from numbered
),

ranked as (
    select
        *,
        -- identical rows collapse to one user: the first by file index is kept
        row_id = min(case when quarantine_reason is null then named_struct(
            'source_row_index', source_row_index, 'row_id', row_id) end
        ) over (partition by user_id).row_id as is_first,
        max(quarantine_reason is null) over (partition by user_id) as user_has_clean_row
    from reasoned
)

select
    row_id,
    source_file,
    -- clean rows' values are the parsed columns: only quarantined rows keep their raw copy
    case when quarantine_reason is not null then {{ raw_values(raw_columns, 'raw.') }} end as raw_values,
    user_id,
    first_login_dt,
    week_year,
    habito,
    habito_dt,
    activacion,
    activacion_dt,
    setup,
    setup_dt,
    `return`,
    return_dt,
    ab_group_source,
    quarantine_reason,
    quarantine_reason is not null as is_quarantined,
    -- the other copies are neither quarantined nor clean
    quarantine_reason is null and not coalesce(is_first, false) as is_duplicate_copy,
    quarantine_reason is null and coalesce(is_first, false) as is_clean,
    coalesce(user_has_clean_row, false) as user_has_clean_row
from ranked
