"""Tests of visitrank.contract: coercion and quarantine."""
