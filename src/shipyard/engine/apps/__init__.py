"""Several apps served by one control plane: the registry, their engines and the shared edge."""
