"""Running the pipeline: the executor (in-process or Dask), the cluster, and the pipeline that plans
partitions."""
