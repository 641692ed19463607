"""The web dashboard: server-rendered pages on the API's port (``routes.register_dashboard``)."""
