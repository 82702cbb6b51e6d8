"""The outlet segmentation's configuration (`scoring.segmentation` is the method).

In a module of its own so that reading a configuration (app settings, the command line) does
not load scikit-learn with the method.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from scoring.config import ScoringConfig

Level = Literal["sku", "brand", "subcategory", "category"]


class SegmentationConfig(BaseModel):
    """Parameters of the outlet segmentation. Money is per week, in the sales currency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    level: Level = Field(
        "sku", description="Purchase mix level: sku, brand, subcategory, category."
    )
    lookback_weeks: int = Field(26, ge=4, le=104, description="Weeks of sales in the mix.")
    segments: int | None = Field(
        None, ge=1, le=12, description="Fixed number of segments; None = chosen by the data."
    )
    k_max: int = Field(8, ge=2, le=12, description="Largest number of segments tried.")
    min_silhouette: float = Field(
        0.15, description="A k whose segments are less separated than this is not used."
    )
    min_stability: float = Field(
        0.95, ge=0, le=1, description="Mean ARI between k-means on different subsamples needed."
    )
    dims: int = Field(8, ge=2, le=50, description="PCA dimensions of the embedded mix.")
    adjust_for_channel: bool = Field(
        True,
        description="Remove each channel's average mix before clustering, so segments group "
        "taste across channels (channel mix is then reported per segment).",
    )
    sample_size: int = Field(
        20_000, ge=100, description="Outlets the PCA and k-means are fitted on (others assigned)."
    )
    k_sample: int = Field(4_000, ge=100, description="Outlets sampled to choose k.")
    max_features: int = Field(
        500, ge=2, description="Level keys kept as features (largest revenue); the rest pooled."
    )
    min_carry: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A SKU is in a segment's range when at least this share of its outlets buy it.",
    )
    min_lift: float = Field(
        1.2, ge=1, description="A SKU the segment 'loves': in range and at least this lift."
    )
    under_buy_ratio: float = Field(
        0.5, gt=0, le=1, description="An outlet under-buys a SKU below this x its expected sales."
    )
    min_potential_value: float = Field(
        0.5, ge=0, description="Weekly money below which a potential is not listed."
    )
    max_potential_skus: int = Field(10, ge=1, le=50, description="Potential SKUs kept per outlet.")
    match_min_similarity: float = Field(
        0.98,
        gt=0,
        le=1,
        description="Bhattacharyya similarity of segment profiles above which a segment of this "
        "run is the same as one of the previous run (keeps id, name, tags).",
    )
    lineage_min_share: float = Field(
        0.2,
        gt=0,
        le=1,
        description="Share of outlets moving between segments that makes a merge or split.",
    )
    premium_index: float = Field(1.1, gt=1, description="Price index at or over which #premium.")
    value_index: float = Field(
        0.9, gt=0, lt=1, description="Price index at or under which #pricesensitive."
    )
    seed: int = Field(0, description="Seed of every randomised step (sample, PCA, k-means).")
    warm_start: bool = Field(
        True,
        description="Start from the previous run's segments (k-means from their centres, its "
        "k kept) instead of searching k again, while the fit holds (see drift_min_agreement).",
    )
    drift_min_agreement: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Adjusted Rand index between the previous run's segments and the warm fit "
        "below which the fit has drifted and k is searched again.",
    )
    research_weeks: int = Field(
        13, ge=1, description="k is searched again at least this often (weeks), drift or not."
    )

    def k_config(self) -> ScoringConfig:
        """The behaviour-clustering fields of ScoringConfig that `choose_k` reads."""
        return ScoringConfig.model_validate(
            {
                "behaviour_segments": self.segments,
                "behaviour_k_max": self.k_max,
                "behaviour_min_silhouette": self.min_silhouette,
                "behaviour_min_stability": self.min_stability,
                "behaviour_dims": self.dims,
                "behaviour_sample": self.k_sample,
                "seed": self.seed,
            }
        )
