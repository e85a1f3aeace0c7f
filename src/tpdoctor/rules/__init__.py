"""Rules: pure functions from Facts (check) or a DeploymentModel (audit) to Findings.

One module per family (oneccl.py, devices.py, shm_ipc.py, nvidia.py, rocm.py, security.py,
env.py). A rule is registered with @fact_rule("cause.id", ...) and its docstring is its
documentation (What it checks / Why it matters / How to fix), rendered by `tpdoctor rules`
and docs/rules.md.
"""

from tpdoctor.rules.registry import Rule, all_rules, fact_rule, run_fact_rules

__all__ = ["Rule", "all_rules", "fact_rule", "run_fact_rules"]
