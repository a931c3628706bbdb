"""Benchmark of rule-condition evaluation: crmflow's compiled conditions vs alternatives."""
