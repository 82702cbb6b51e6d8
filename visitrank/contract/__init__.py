"""The data contract: the ERP tables and their types, coercion of raw values, the quarantine of
rows that break a rule, and the errors that name the bad value. The bottom layer: it imports
nothing else of the product."""
