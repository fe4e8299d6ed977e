"""Pure stages: tables in, tables out (no store, no Dask, no Kubernetes); see DESIGN.md section 5."""
