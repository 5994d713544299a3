"""Running a chain of passes: the engine, its cache, resources, lifecycle hooks, the job runner and the output folder."""
