"""Importable test helpers (fake scorers, fixtures builders), shared by every test folder."""
