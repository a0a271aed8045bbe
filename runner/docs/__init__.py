"""The documentation site: `runner docs generate` and `runner docs serve`."""
