"""Certificates: TLS certificates from files (and their swaps), for the edge."""
