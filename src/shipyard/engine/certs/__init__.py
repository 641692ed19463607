"""Certificates: reading, checking and installing the edge's TLS certificates."""
