"""Durable activities of the weekly run: plan, score one region, publish (fan-in)."""
