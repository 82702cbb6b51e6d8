"""The proposed order per customer: usual references with their quantities,
development opportunities and range extensions within a novelty budget, must-sell items, and
the feedback loop. Pure: frames and a frozen `OrderConfig` in, frames out (see docs/orders.md).
"""

from typing import TYPE_CHECKING, Any

from scoring.orders.config import OrderConfig

if TYPE_CHECKING:
    from scoring.orders.proposal import OrderInputs, OrderProposal, propose_orders

__all__ = ["OrderConfig", "OrderInputs", "OrderProposal", "propose_orders"]

PROPOSAL_NAMES = frozenset({"OrderInputs", "OrderProposal", "propose_orders"})
"""Loaded on first use: the proposal pulls in scikit-learn (~2 s), which a reader of the
configuration alone (the settings, the command line's help) does not need."""


def __getattr__(name: str) -> Any:
    if name in PROPOSAL_NAMES:
        from scoring.orders import proposal  # noqa: PLC0415 (loaded on first use)

        return getattr(proposal, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
