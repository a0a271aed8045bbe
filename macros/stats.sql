{#- Experiment statistics as Spark SQL expressions. Spark has no erf, so the normal CDF is Hart's
    double-precision rational approximation (W. J. Cody / G. West, "Better approximations to
    cumulative normal functions", 2005): absolute error below 1e-14, far inside the 1e-7 needed.
    Every statistic that is undefined (an empty group, zero variance) is NULL, never a division
    error: divisors go through nullif(.., 0). -#}

{% macro normal_cdf(x) -%}
{#- P(Z <= x) for a standard normal Z. Lambdas bind x, |x| and the tail once each. -#}
element_at(transform(array(cast({{ x }} as double)), v ->
    element_at(transform(array(
        element_at(transform(array(abs(v)), a ->
            case
                when a > 37 then 0.0
                when a < 7.07106781186547 then
                    exp(-a * a / 2)
                    * ((((((0.0352624965998911 * a + 0.700383064443688) * a
                        + 6.37396220353165) * a + 33.912866078383) * a
                        + 112.079291497871) * a + 221.213596169931) * a
                        + 220.206867912376)
                    / (((((((0.0883883476483184 * a + 1.75566716318264) * a
                        + 16.064177579207) * a + 86.7807322029461) * a
                        + 296.564248779674) * a + 637.333633378831) * a
                        + 793.826512519948) * a + 440.413735824752)
                else
                    exp(-a * a / 2)
                    / (a + 1 / (a + 2 / (a + 3 / (a + 4 / (a + 0.65)))))
                    / 2.506628274631
            end), 1)
    ), tail -> case when v > 0 then 1 - tail else tail end), 1)
), 1)
{%- endmacro %}


{% macro two_sided_p_value(z) -%}
{#- 2 * P(Z > |z|), computed from the lower tail so small p-values keep their precision. -#}
2 * {{ normal_cdf('-abs(' ~ z ~ ')') }}
{%- endmacro %}


{% macro proportion(successes, n) -%}
cast({{ successes }} as double) / nullif(cast({{ n }} as double), 0)
{%- endmacro %}


{% macro two_proportion_z(x_control, n_control, x_treatment, n_treatment) -%}
{#- (p_t - p_c) / sqrt(p (1 - p) (1/n_c + 1/n_t)) with the pooled p = (x_c + x_t) / (n_c + n_t). -#}
({{ proportion(x_treatment, n_treatment) }} - {{ proportion(x_control, n_control) }})
/ nullif(sqrt(
    {{ proportion(x_control ~ ' + ' ~ x_treatment, n_control ~ ' + ' ~ n_treatment) }}
    * (1 - {{ proportion(x_control ~ ' + ' ~ x_treatment, n_control ~ ' + ' ~ n_treatment) }})
    * (1 / nullif(cast({{ n_control }} as double), 0) + 1 / nullif(cast({{ n_treatment }} as double), 0))
), 0)
{%- endmacro %}


{% macro diff_standard_error(x_control, n_control, x_treatment, n_treatment) -%}
{#- Unpooled standard error of p_t - p_c. -#}
sqrt(
    {{ proportion(x_control, n_control) }} * (1 - {{ proportion(x_control, n_control) }})
        / nullif(cast({{ n_control }} as double), 0)
    + {{ proportion(x_treatment, n_treatment) }} * (1 - {{ proportion(x_treatment, n_treatment) }})
        / nullif(cast({{ n_treatment }} as double), 0)
)
{%- endmacro %}


{% macro diff_ci_low(x_control, n_control, x_treatment, n_treatment, z_crit=1.959963984540054) -%}
({{ proportion(x_treatment, n_treatment) }} - {{ proportion(x_control, n_control) }})
- {{ z_crit }} * {{ diff_standard_error(x_control, n_control, x_treatment, n_treatment) }}
{%- endmacro %}


{% macro diff_ci_high(x_control, n_control, x_treatment, n_treatment, z_crit=1.959963984540054) -%}
({{ proportion(x_treatment, n_treatment) }} - {{ proportion(x_control, n_control) }})
+ {{ z_crit }} * {{ diff_standard_error(x_control, n_control, x_treatment, n_treatment) }}
{%- endmacro %}


{% macro srm_chi2(n_control, n_treatment, control_share) -%}
{%- set control_share = 'cast(' ~ control_share ~ ' as double)' -%}
{#- Chi-square (1 d.f.) of the observed group sizes against the planned split; NULL when an
    expected count is 0 (no users, or a share of 0 or 1). -#}
(
    pow({{ n_control }} - ({{ n_control }} + {{ n_treatment }}) * {{ control_share }}, 2)
        / nullif(({{ n_control }} + {{ n_treatment }}) * {{ control_share }}, 0)
    + pow({{ n_treatment }} - ({{ n_control }} + {{ n_treatment }}) * (1 - {{ control_share }}), 2)
        / nullif(({{ n_control }} + {{ n_treatment }}) * (1 - {{ control_share }}), 0)
)
{%- endmacro %}


{% macro chi2_1df_p_value(chi2) -%}
{#- P(X > chi2) for 1 d.f.: X is Z squared, so it is 2 * P(Z > sqrt(chi2)). -#}
{{ two_sided_p_value('sqrt(' ~ chi2 ~ ')') }}
{%- endmacro %}
