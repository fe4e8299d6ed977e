"""Importers that turn other formats (CSV) into telemetry.v1 day zips."""
