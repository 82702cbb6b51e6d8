"""Durable activities of the weekly run: plan, score one region, propose one region's orders,
segment all outlets, route one chunk of reps, publish (fan-in)."""
