"""The control plane engine: deployments, rollbacks and the reconciler."""
