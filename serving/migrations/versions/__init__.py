"""Migration scripts (a package so wheels ship them)."""
