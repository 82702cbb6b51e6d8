"""The one typed, frozen configuration of the scoring engine, with documented defaults.

Every threshold, weight and count the engine uses lives here so that a run is fully described by
its config (it is echoed into the run summary). Override from a TOML/JSON file or from the CLI
(`--set name=value`); unknown names are rejected rather than silently ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ScoringConfig(BaseModel):
    """Scoring, ranking and routing parameters. Money is per week, in the sales currency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- time windows -----------------------------------------------------------------------
    lookback_weeks: int = Field(26, ge=4, le=104, description="Weeks of sales scored (as-of back).")
    recent_weeks: int = Field(
        8, ge=0, le=26, description="Last weeks of the window also scored on their own (0: off)."
    )
    recent_own_baseline: bool = Field(
        True,
        description="Also expect the recent window at the outlet's own share of the weeks "
        "before it (moved by the SKU's pooled trend): a listing lost a few weeks ago shows "
        "against the outlet's own past even where its peers sell the SKU less.",
    )
    history_weeks: int = Field(
        104, ge=8, le=260, description="Weeks of sales used for SKU seasonality profiles."
    )

    # --- SKU clusters (category x price tier x seasonality) -----------------------------------
    price_tiers: int = Field(3, ge=1, le=5, description="Price tiers per category (quantiles).")
    seasonal_peak_share: float = Field(
        0.34,
        gt=0.25,
        lt=1.0,
        description="A SKU whose best quarter holds at least this share of its units is seasonal.",
    )

    # --- outlet segments (channel x volume tier x purchase behaviour) ------------------------
    volume_tiers: int = Field(3, ge=1, le=5, description="Volume tiers per region and channel.")
    behaviour_segments: int | None = Field(
        None, ge=1, le=12, description="Fixed number of behaviour clusters; None = chosen by data."
    )
    behaviour_k_max: int = Field(6, ge=2, le=12, description="Largest k tried when automatic.")
    behaviour_min_silhouette: float = Field(
        0.15, description="A k whose clusters are less separated than this is not used."
    )
    behaviour_min_stability: float = Field(
        0.95,
        ge=0,
        le=1,
        description="The largest k whose clusters are found again on subsamples (mean ARI).",
    )
    behaviour_dims: int = Field(8, ge=2, description="PCA dimensions of the purchase mix.")
    behaviour_sample: int = Field(4000, ge=100, description="Outlets sampled to choose k.")

    # --- benchmark ---------------------------------------------------------------------------
    benchmark: Literal["segment_median", "learned"] = Field(
        "learned",
        description="How the expected sales of an outlet x SKU are computed: the leave-one-out "
        "median of segment peers, or learned from the region's whole outlet x SKU matrix "
        "(out-of-fold robust low-rank model, scoring/learned.py).",
    )
    learned_rank: int = Field(
        3, ge=1, le=50, description="Learned benchmark: latent taste dimensions (SVD rank)."
    )
    learned_folds: int = Field(
        3,
        ge=2,
        le=20,
        description="Learned benchmark: outlet folds (factors fitted out of fold). 3 folds "
        "score as well as 5 on the demo data sets at half the model's time (docs/performance).",
    )
    learned_ridge: float = Field(
        0.05, ge=0, description="Learned benchmark: ridge penalty of an outlet's taste loadings."
    )
    learned_combine: Literal["learned", "min", "geomean"] = Field(
        "geomean",
        description="Learned benchmark: use the learned expectation alone, or the smaller of it "
        "and the segment median's (a gap both see), or their geometric mean.",
    )
    learned_impute_rounds: int = Field(
        3, ge=1, le=20, description="Learned benchmark: rounds of imputing the unbought cells."
    )
    learned_gap_z: float = Field(
        2.0,
        gt=0,
        description="Learned benchmark: a cell this many robust SDs below its prediction is a "
        "suspected gap and does not weigh in the fit.",
    )
    min_peers: int = Field(
        12, ge=3, description="Peers below which a segment leans on its wider parent group."
    )
    shrinkage_peers: float = Field(
        10.0, ge=0.0, description="Pseudo-peers of the parent group blended into every segment."
    )

    subcategory_benchmark: bool = Field(
        False,
        description="Expect no more than the outlet's own subcategory purchases imply: a SKU is "
        "a gap only if it is low against both the outlet's total and its subcategory.",
    )
    own_history: bool = Field(
        True,
        description="Also expect what the outlet itself sold before the window (its prior "
        "share, corrected by the SKU's peer trend); the larger expectation wins.",
    )
    substitution_cap: bool = Field(
        False,
        description="The gaps measured against the outlet's own past take together at most "
        "what their subcategory lost against that past: an outlet that replaced a SKU by "
        "another of the same subcategory has lost no sale. Off: on real store sales it costs "
        "new-push precision at every catalogue size and gains captured value only at some "
        "(docs/real-data.md).",
    )
    carry_rate_power: float = Field(
        12.0,
        ge=0,
        description="Gaps are weighted by (share of peers that buy the SKU) ** this power: "
        "a SKU most peers do not stock is a weak opportunity.",
    )

    # --- indexation and opportunities ---------------------------------------------------------
    opportunity_index_max: float = Field(
        35.0, gt=0, lt=100, description="An index at or under this is an opportunity to push."
    )
    saturated_index_min: float = Field(
        130.0, gt=100, description="An index at or over this is counted as saturated."
    )
    noise_z: float = Field(
        1.64, ge=0, description="Gap discounted by z x sqrt(expected units): noise is no gap."
    )
    recent_noise_z: float | None = Field(
        2.0,
        ge=0,
        description="noise_z of the recent window's gap (None: noise_z). A short window's gaps "
        "are noisier (lumpy orders over few weeks): 2.0 against 1.64 gains 2.6 points of SKU "
        "precision for 0.5 of captured value on the demo data sets (README).",
    )
    skus_per_visit: int = Field(5, ge=1, le=20, description="At most this many SKUs to push.")
    min_sku_gap_share: float = Field(
        0.02,
        ge=0,
        le=1,
        description="Push a SKU only if its expected gain is at least this share of the top one.",
    )

    min_sku_outlet_share: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Push a SKU only if its weekly gap is at least this share of the outlet's "
        "weekly revenue: a smaller pitch is not worth the visit time, and such small shortfalls "
        "are mostly natural variation (scale-free: any currency).",
    )
    min_sku_average_share: float | None = Field(
        0.25,
        ge=0,
        description="Push a SKU only if its weekly gap is at least this share of the outlet's "
        "average SKU (its weekly revenue / the median number of SKUs an outlet of the region "
        "buys); replaces min_sku_outlet_share, which it derives per region "
        "(scoring/assortment_scale.py). None: the fixed min_sku_outlet_share applies.",
    )
    min_sku_gap_value: float = Field(
        0.01, ge=0, description="Push a SKU only if its weekly gap is at least this much money."
    )

    # --- recency ------------------------------------------------------------------------------
    recency_floor: float = Field(
        0.5, ge=0, le=1, description="Weight of an outlet visited today (never visited = 1)."
    )
    recency_days: float = Field(
        45.0, gt=0, description="Days over which the recency weight rises (exponential scale)."
    )

    # --- visit response -------------------------------------------------------------------
    visit_response: bool = Field(
        True,
        description="Measure whether visits move the following weeks' sales; with a signal, "
        "scale each outlet's priority by its (shrunk) responsiveness.",
    )
    response_weeks: int = Field(4, ge=1, le=13, description="Weeks after a visit measured.")
    response_min_effect: float = Field(
        0.02, ge=0, description="A lift whose 95% CI lower bound is below this is no signal."
    )
    response_min_outlets: int = Field(
        30, ge=2, description="Outlets with visited and unvisited weeks needed to measure."
    )
    response_shrinkage_weeks: float = Field(
        10.0, ge=0, description="Visited weeks of pseudo-evidence pulling an outlet to the mean."
    )
    response_factor_min: float = Field(0.5, gt=0, description="Lowest responsiveness factor.")
    response_factor_max: float = Field(2.0, gt=0, description="Highest responsiveness factor.")

    # --- gap persistence (scoring/gap_persistence.py) ---------------------------------------
    gap_persistence: bool = Field(
        True,
        description="Learn from past cut-offs which flagged gaps persist without a visit; with "
        "a signal, weigh each gap by its probability to be real (expected gain = gap x p).",
    )
    persistence_horizon_weeks: int = Field(
        8, ge=2, le=26, description="Weeks after a past cut-off in which a gap may recover."
    )
    persistence_cutoffs: int = Field(
        6, ge=1, le=26, description="Past cut-offs learned from, one horizon apart."
    )
    persistence_recovery_max: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A past gap persisted if the horizon's sales stayed under this share of "
        "its expectation.",
    )
    persistence_min_examples: int = Field(
        100, ge=8, description="Past flagged gaps at unvisited outlets needed to learn."
    )
    persistence_folds: int = Field(3, ge=2, le=10, description="Outlet folds of the skill test.")
    persistence_trees: int = Field(
        50, ge=10, le=1000, description="Boosting iterations of the persistence model."
    )

    # --- the week -----------------------------------------------------------------------------
    visits_per_week: int = Field(30, ge=1, le=200)
    days_per_week: int = Field(5, ge=1, le=7)
    max_visits_per_day: int = Field(
        7, ge=1, le=40, description="A day never holds more (7 x 5 days: every day is used)."
    )
    candidate_pool: int = Field(
        90, ge=1, description="Only a rep's top-N outlets by priority are considered for routing."
    )
    travel_tradeoff: float = Field(
        0.02,
        ge=0,
        description="Value of one typical hop of travel, as a share of a marginal visit's value.",
    )
    value_per_km: float | None = Field(
        None, ge=0, description="Explicit money per km; overrides travel_tradeoff when set."
    )

    # --- the week in time (scoring.timed_routing) ----------------------------------------------
    planner: Literal["timed", "counts"] = Field(
        "counts",
        description="counts: the count-based heuristic (the default for now); timed: days "
        "planned in time from the rep's home with visit durations, opening hours, pins, "
        "exclusions and visit frequencies (PyVRP, docs/routing.md).",
    )
    day_start: str = Field(
        "08:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="When a rep's day starts."
    )
    day_hours: float = Field(
        9.0, gt=0, le=16, description="Length of a working day: leaving home to coming back."
    )
    break_minutes: int = Field(30, ge=0, le=240, description="Breaks within a working day.")
    speed_kmh: float = Field(35.0, gt=0, le=130, description="Average road speed.")
    road_factor: float = Field(
        1.3, ge=1, le=3, description="Road km per straight-line km (detours of the road network)."
    )
    visit_minutes: float = Field(
        20.0, gt=0, le=480, description="A visit's duration when the outlet has no VisitMinutes."
    )
    solver_iterations: int = Field(
        300, ge=1, le=100_000, description="Search iterations per rep (same data: same plan)."
    )

    seed: int = Field(0, description="Seed for every randomised step (k-means, route search).")

    @model_validator(mode="after")
    def _week_fits(self) -> ScoringConfig:
        if self.days_per_week * self.max_visits_per_day < self.visits_per_week:
            raise ValueError(
                f"days_per_week x max_visits_per_day = "
                f"{self.days_per_week * self.max_visits_per_day} cannot hold "
                f"visits_per_week = {self.visits_per_week}"
            )
        if self.candidate_pool < self.visits_per_week:
            raise ValueError(
                f"candidate_pool ({self.candidate_pool}) < visits_per_week ({self.visits_per_week})"
            )
        start_hour, start_minute = (int(part) for part in self.day_start.split(":"))
        if start_hour * 60 + start_minute + self.day_hours * 60 > 24 * 60:
            raise ValueError(f"a day from {self.day_start} for {self.day_hours} h passes midnight")
        if self.break_minutes >= self.day_hours * 60:
            raise ValueError(
                f"break_minutes ({self.break_minutes}) fill the day ({self.day_hours} h)"
            )
        if self.history_weeks < self.lookback_weeks:
            raise ValueError(
                f"history_weeks ({self.history_weeks}) < lookback_weeks ({self.lookback_weeks})"
            )
        return self

    def with_overrides(self, overrides: dict[str, Any]) -> ScoringConfig:
        """A copy with the given fields replaced and validated again."""
        return ScoringConfig.model_validate({**self.model_dump(), **overrides})
