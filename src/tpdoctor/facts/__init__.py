"""Reading a system under a root path into Facts (live `/` or a fixture/snapshot dir)."""
