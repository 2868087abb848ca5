"""Dagster definitions, one folder per source (``feeds``) and one for the warehouse."""
