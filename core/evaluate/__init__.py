"""Evaluating a model: metric plumbing, goals, and the HTML report."""
