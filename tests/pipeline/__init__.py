"""Tests of visitrank.pipeline: documents, payloads, run configuration, golden documents."""
