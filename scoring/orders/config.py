"""The frozen, typed configuration of the proposed order, with documented defaults.

Every threshold, count and weight of the order proposal lives here so that a proposal is fully
described by its config. Defaults were chosen on the demo data at a cut-off (2026-06-01) that
is *not* the one the backtest reports (2026-09-21); the quantity model was compared on four
evaluations (docs/orders.md), none tuned alone.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class OrderConfig(BaseModel):
    """Parameters of the proposed order. Days are calendar days; quantities are sales units."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- history -----------------------------------------------------------------------------
    lookback_weeks: int = Field(
        26, ge=4, le=156, description="Weeks of orders behind frequencies, rhythms and quantities."
    )
    season_weeks: int = Field(
        104,
        ge=0,
        le=260,
        description="Weeks of all customers' sales behind the item seasonality (0: off; a "
        "profile needs at least a year to be used).",
    )
    recent_intervals: int = Field(
        6, ge=1, le=50, description="Last inter-order intervals behind a customer's rhythm."
    )
    recent_lines: int = Field(
        8, ge=1, le=50, description="Last purchases of an item behind its typical quantity."
    )

    # --- usual references ----------------------------------------------------------------------
    recency_half_life_orders: float = Field(
        8.0,
        gt=0,
        description="An order this many orders back counts half as much in an item's frequency.",
    )
    hazard_prior_orders: float = Field(
        4.0,
        ge=0,
        description="Pseudo-observations of the frequency blended into the item's hazard at the "
        "current number of orders since it was last bought (the interval logic).",
    )
    usual_min_probability: float = Field(
        0.4,
        ge=0,
        le=1,
        description="A usual reference at least this probable is proposed even beyond the "
        "expected basket (a floor, not a gate: the expected basket is filled whatever the "
        "probabilities).",
    )
    basket_scale: float | None = Field(
        None,
        ge=0.1,
        le=5.0,
        description="The usual part holds round(basket_scale x the customer's expected basket) "
        "lines, at least one (the expected basket: the recency-weighted mean number of distinct "
        "items per look-back order). None: chosen per run on the calibration proposal (the one "
        "made calibration_weeks earlier) among BASKET_SCALES, the value with the best mean F1 "
        "against the customers' next orders.",
    )
    max_lines: int = Field(40, ge=1, le=300, description="At most this many usual references.")
    quantity_cap: float = Field(
        3.0,
        ge=1,
        description="Past quantities above this multiple of the item's median are capped "
        "(robust typical quantity).",
    )

    stock_up_presence: float = Field(
        0.5,
        ge=0,
        le=1,
        description="An item bought in fewer than this share of the orders its per-order rate "
        "implies is a stock-up item: its quantity covers the days since it was last bought, "
        "not the interval since the previous order (0: never).",
    )

    # --- development and range extension ------------------------------------------------------
    calibration_weeks: int = Field(
        8,
        ge=1,
        le=52,
        description="Probabilities are calibrated on the proposal this many weeks before the "
        "cut-off against the customers' first order after it (data before the cut-off only).",
    )
    development_quantity_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A development line proposes this share of the gap (units over the "
        "expected interval), at least one unit.",
    )
    neighbours: int = Field(
        30, ge=1, le=300, description="Most similar items kept per item (item-item CF)."
    )
    extension_min_buyer_share: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Only items bought by at least this share of the customers in the look-back "
        "window (and at least one) are range-extension candidates and similarity anchors.",
    )
    segment_weight: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Weight of the segment popularity against the item-item similarity in the "
        "range-extension score.",
    )
    trend_weeks: int = Field(
        8, ge=1, le=26, description="Recent weeks compared with the look-back for trending items."
    )

    # --- novelty budget ----------------------------------------------------------------------
    max_new_items: int = Field(
        2, ge=0, le=20, description="At most this many development + extension lines per order."
    )
    novelty_min_probability: float = Field(
        0.25,
        ge=0,
        le=1,
        description="A development or extension line is shown only at or above this probability.",
    )
    must_sell: dict[str, tuple[int, ...]] = Field(
        default_factory=dict,
        description="Business must-sell ItemIds per segment key: a channel (ON_TRADE), a "
        "scoring segment (ON_TRADE|v2|b1) or '*' for everyone; added with kind 'must-sell' "
        "outside the budget when the customer does not already get them.",
    )
    max_must_sell: int = Field(3, ge=0, le=20, description="At most this many must-sell lines.")

    # --- feedback ----------------------------------------------------------------------------
    feedback_prior: float = Field(
        3.0,
        ge=0,
        description="Pseudo-lines at the predicted rate blended into a customer's accepted / "
        "expected ratio (shrinks a short history towards no adjustment).",
    )
    feedback_min_factor: float = Field(
        0.2, gt=0, le=1, description="The odds of a line are never scaled below this factor."
    )
    feedback_max_factor: float = Field(
        3.0, ge=1, description="The odds of a line are never scaled above this factor."
    )

    @model_validator(mode="after")
    def _consistent(self) -> OrderConfig:
        if self.calibration_weeks * 7 >= self.lookback_weeks * 7:
            raise ValueError(
                f"calibration_weeks ({self.calibration_weeks}) must be under lookback_weeks "
                f"({self.lookback_weeks})"
            )
        return self

    def with_overrides(self, overrides: dict[str, Any]) -> OrderConfig:
        """A copy with the given fields replaced and validated again."""
        return OrderConfig.model_validate({**self.model_dump(), **overrides})
