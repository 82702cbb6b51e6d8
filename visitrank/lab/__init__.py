"""Tools that are not the product: the demo generator, the evaluation against the demo's truth
and the backtests. Nothing of the product imports them; the command line exposes them."""
