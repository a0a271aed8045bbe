"""The click commands of `runner`, by theme; `runner.cli` holds the group and adds them."""
