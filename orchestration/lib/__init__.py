"""Helpers the Dagster definitions (``defs/``) and the CLI share; nothing here defines an asset."""
