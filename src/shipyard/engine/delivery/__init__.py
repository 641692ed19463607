"""Delivery: deployments, rollouts and their checks, reconciliation, configuration, promotion."""
