"""Searching a workflow's space: the search space, the driver that runs trials, Pareto ranking."""
