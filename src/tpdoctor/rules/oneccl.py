"""oneCCL rules (owned by the check foundation work; see ../shared/research/failures.md §1)."""
