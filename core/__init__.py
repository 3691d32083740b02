"""The ground floor: where things are (paths) and the settings every deployable shares. No domain code."""
