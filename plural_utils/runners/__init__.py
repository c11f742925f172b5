"""One runner per experimental domain (e.g. ``gmm`` for the 2-D Gaussian mixture)."""
