"""`tpdoctor cluster`: the same check on every node of a Ray cluster.

`remote.py` talks to Ray (imported lazily: `ray` is the optional extra `cluster`), `worker.py` is
the task that runs on each node, `report.py` turns the nodes' facts into one Report with
`rules.run_fact_rules` per node and `rules.cluster.compare_nodes` across them.
"""
