"""dbt-style Spark SQL runner for the fintech onboarding project."""

__version__ = "0.1.0"
