"""Agreement and rule data."""
