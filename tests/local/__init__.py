"""Tests of the local driver: the command line and the process-pool run."""
