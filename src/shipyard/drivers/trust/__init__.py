"""Trust's edges: the vault's encryption and master key, and SOPS files."""
