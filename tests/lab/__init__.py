"""Tests of visitrank.lab: the demo generator and the backtests."""
