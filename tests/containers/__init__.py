"""Container tests: the fault matrix run on a real Docker engine (pytest marker `container`)."""
