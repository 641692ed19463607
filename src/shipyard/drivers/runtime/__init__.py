"""Where instances run: building releases, starting and supervising processes, probing them."""
