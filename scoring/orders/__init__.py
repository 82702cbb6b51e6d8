"""The proposed order per customer: usual references with their quantities,
development opportunities and range extensions within a novelty budget, must-sell items, and
the feedback loop. Pure: frames and a frozen `OrderConfig` in, frames out (see docs/orders.md).
"""

from scoring.orders.config import OrderConfig
from scoring.orders.proposal import OrderInputs, OrderProposal, propose_orders

__all__ = ["OrderConfig", "OrderInputs", "OrderProposal", "propose_orders"]
