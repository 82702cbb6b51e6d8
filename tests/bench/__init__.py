"""Tests of the measurements in bench/ (the real-data converters on a slice)."""
