"""Tests of visitrank.adapters that need no emulator: the file source and the local stage."""
