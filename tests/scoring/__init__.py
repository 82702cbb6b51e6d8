"""Tests of the pure scoring library (scoring/)."""
