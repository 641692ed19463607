"""The reverse proxy: the Proxy protocol, HAProxy behind it, and its access log."""
