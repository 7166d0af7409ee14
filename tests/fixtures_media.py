"""Fixtures that make small video clips with PyAV (owned by the media I/O area)."""
