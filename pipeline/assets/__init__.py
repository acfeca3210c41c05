"""Dagster assets. Factories take the agency partitions built from the registry;
pipeline/definitions.py is the only place that assembles them."""
