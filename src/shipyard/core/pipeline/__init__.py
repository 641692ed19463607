"""Pipelines, pure: the order of a pipeline's stages, the gates on their reports, whether a
release may be deployed, and the delivery figures (``shipyard stats``)."""
