"""Building and checking what `sam build` ships: the layers, their lock files and the deploy check."""
