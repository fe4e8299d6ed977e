"""Reading and writing: the object store (fsspec, versions, atomic writes), lineage and leases, the model
registry."""
