"""Durable orchestrators and client functions (timer, HTTP) of the weekly run."""
