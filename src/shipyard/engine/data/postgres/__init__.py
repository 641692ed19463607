"""The PostgreSQL engines: a cluster Shipyard manages, or an external server it reaches by URL."""
