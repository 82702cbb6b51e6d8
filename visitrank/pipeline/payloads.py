"""The typed messages between the steps of a run, and their JSON at the Durable boundary.

The orchestrator and the activities exchange small JSON (Durable replays it from history); in
code they are these frozen dataclasses and typed dicts, built and read in one place, so a key
that one side writes and the other never reads (or reads and never gets) cannot hide in a
`dict[str, Any]`. The configuration sections travel as their non-default fields only, which
keeps every payload small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

from pydantic import BaseModel

from scoring.config import ScoringConfig
from scoring.inputs import ScoringWindow
from scoring.orders import OrderConfig
from scoring.segmentation_config import SegmentationConfig
from visitrank.pipeline.run_config import RunConfig
from visitrank.pipeline.week import window_from_json, window_to_json


def section_json(section: BaseModel) -> dict[str, Any]:
    """A configuration section as JSON: its fields that differ from the defaults."""
    return section.model_dump(mode="json", exclude_defaults=True)


def scoring_task_json(run_id: str, window: ScoringWindow, scoring: ScoringConfig) -> dict[str, Any]:
    """What every task working on the run's scores carries: the run, its window's dates and
    the scoring configuration (non-default fields only)."""
    return {"runId": run_id, **window_to_json(window), "config": section_json(scoring)}


def scoring_task_fields(data: Mapping[str, Any]) -> tuple[str, ScoringWindow, ScoringConfig]:
    """The run id, window and scoring configuration of a task's JSON (`scoring_task_json`)."""
    scoring = ScoringConfig.model_validate(data.get("config") or {})
    return str(data["runId"]), window_from_json(data), scoring


@dataclass(frozen=True)
class RegionTask:
    """Score one region: `score_region` activity input. `dry_run`: the region's scores are not
    kept for later weeks (`visitrank.pipeline.score_history`)."""

    run_id: str
    area_id: int
    window: ScoringWindow
    scoring: ScoringConfig
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            **scoring_task_json(self.run_id, self.window, self.scoring),
            "areaId": self.area_id,
            "dryRun": self.dry_run,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RegionTask:
        run_id, window, scoring = scoring_task_fields(data)
        return cls(run_id, int(data["areaId"]), window, scoring, bool(data.get("dryRun", False)))


@dataclass(frozen=True)
class OrderTask:
    """Propose one region's orders: `propose_orders` activity input. `scored`: the region's
    scoring of this run is staged (its week's scores feed the development lines); otherwise
    the activity scores the region itself."""

    run_id: str
    area_id: int
    window: ScoringWindow
    scoring: ScoringConfig
    orders: OrderConfig
    dry_run: bool
    scored: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            **RegionTask(self.run_id, self.area_id, self.window, self.scoring).to_json(),
            "dryRun": self.dry_run,
            "orderConfig": section_json(self.orders),
            "scored": self.scored,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrderTask:
        region = RegionTask.from_json(data)
        return cls(
            run_id=region.run_id,
            area_id=region.area_id,
            window=region.window,
            scoring=region.scoring,
            orders=OrderConfig.model_validate(data.get("orderConfig") or {}),
            dry_run=bool(data.get("dryRun", False)),
            scored=bool(data.get("scored", False)),
        )


@dataclass(frozen=True)
class SegmentTask:
    """Segment every outlet: `segment_outlets` activity input."""

    run_id: str
    window: ScoringWindow
    dry_run: bool
    segmentation: SegmentationConfig

    def to_json(self) -> dict[str, Any]:
        return {
            "runId": self.run_id,
            **window_to_json(self.window),
            "dryRun": self.dry_run,
            "segmentation": section_json(self.segmentation),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SegmentTask:
        return cls(
            run_id=str(data["runId"]),
            window=window_from_json(data),
            dry_run=bool(data.get("dryRun", False)),
            segmentation=SegmentationConfig.model_validate(data.get("segmentation") or {}),
        )


@dataclass(frozen=True)
class RouteTask:
    """Plan the weeks of one chunk of reps: `route_chunk` activity input. `regions`: the
    regions that scored (area ids only: their staged outlets and reps are found by name); the
    chunk's reps are those of `fan_in.chunk_outlets(outlets, chunk, chunks)` of those
    regions' outlets."""

    run_id: str
    regions: tuple[int, ...]
    chunk: int
    chunks: int
    window: ScoringWindow
    scoring: ScoringConfig

    def to_json(self) -> dict[str, Any]:
        return {
            **scoring_task_json(self.run_id, self.window, self.scoring),
            "regions": list(self.regions),
            "chunk": self.chunk,
            "chunks": self.chunks,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RouteTask:
        run_id, window, scoring = scoring_task_fields(data)
        regions = tuple(int(area) for area in data.get("regions") or [])
        return cls(run_id, regions, int(data["chunk"]), int(data["chunks"]), window, scoring)


@dataclass(frozen=True)
class UnownedRows:
    """The rows no region reads (sales, lines and visits of customers without an area), read
    once by the plan in a run of every region: rows per table, and set aside per reason."""

    input_rows: dict[str, int]
    quarantined: dict[str, dict[str, int]]

    def to_json(self) -> dict[str, Any]:
        return {"inputRows": self.input_rows, "quarantined": self.quarantined}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UnownedRows:
        return cls(dict(data.get("inputRows") or {}), dict(data.get("quarantined") or {}))


@dataclass(frozen=True)
class RunPlan:
    """The plan of a weekly run (`plan_run` activity output): which week and dates, which
    regions (`all_regions`: no subset was asked for), and the run configuration every
    activity of the run uses."""

    run_id: str
    generated_at: str
    window: ScoringWindow
    regions: tuple[int, ...]
    all_regions: bool
    dry_run: bool
    config: RunConfig = field(default_factory=RunConfig)
    unowned: UnownedRows = field(default_factory=lambda: UnownedRows({}, {}))

    def to_json(self) -> dict[str, Any]:
        return {
            "runId": self.run_id,
            "generatedAt": self.generated_at,
            **window_to_json(self.window),
            "regions": list(self.regions),
            "allRegions": self.all_regions,
            "dryRun": self.dry_run,
            "config": section_json(self.config.scoring),
            "orderConfig": section_json(self.config.orders),
            "segmentationConfig": section_json(self.config.segmentation),
            "unowned": {
                "inputRows": self.unowned.input_rows,
                "quarantined": self.unowned.quarantined,
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunPlan:
        return cls(
            run_id=str(data["runId"]),
            generated_at=str(data["generatedAt"]),
            window=window_from_json(data),
            regions=tuple(int(area) for area in data.get("regions", [])),
            all_regions=bool(data.get("allRegions", False)),
            dry_run=bool(data.get("dryRun", False)),
            config=RunConfig(
                scoring=ScoringConfig.model_validate(data.get("config") or {}),
                orders=OrderConfig.model_validate(data.get("orderConfig") or {}),
                segmentation=SegmentationConfig.model_validate(
                    data.get("segmentationConfig") or {}
                ),
            ),
            unowned=UnownedRows.from_json(data.get("unowned") or {}),
        )

    def region_task(self, area_id: int) -> RegionTask:
        return RegionTask(self.run_id, area_id, self.window, self.config.scoring, self.dry_run)

    def order_task(self, area_id: int, scored: bool = False) -> OrderTask:
        return OrderTask(
            self.run_id,
            area_id,
            self.window,
            self.config.scoring,
            self.config.orders,
            self.dry_run,
            scored,
        )

    def segment_task(self) -> SegmentTask:
        return SegmentTask(self.run_id, self.window, self.dry_run, self.config.segmentation)

    def route_task(self, regions: Sequence[int], chunk: int, chunks: int) -> RouteTask:
        return RouteTask(
            self.run_id, tuple(regions), chunk, chunks, self.window, self.config.scoring
        )


@dataclass(frozen=True)
class PublishRequest:
    """Publish the week: `publish_run` activity input. `regions`: the regions that scored
    (area ids only: their files and learned steps' verdicts are found beside each other in
    the run's staging folder, so the payload stays a few KB at 1,000 regions); `complete`:
    every region of a run of all regions scored, so stale documents may be withdrawn;
    `orders`: the regions whose proposals are staged; `segments`: this run's segmentation
    (potential and support paths), None when it did not segment; `route_chunks`: how many
    route chunks the reps were split into (0: none, publish plans every rep itself);
    `routed`: the chunks whose planned weeks are staged (chunk indices only: publish plans
    the others itself)."""

    plan: RunPlan
    regions: tuple[int, ...]
    complete: bool
    orders: tuple[int, ...] = ()
    segments: dict[str, Any] | None = None
    route_chunks: int = 0
    routed: tuple[int, ...] = ()

    @classmethod
    def after_fan_out(
        cls,
        plan: RunPlan,
        outcomes: Sequence[Mapping[str, Any]],
        orders: Sequence[Mapping[str, Any]],
        segments: Mapping[str, Any] | None,
        routes: Sequence[Mapping[str, Any]] = (),
    ) -> PublishRequest:
        """What publish needs of the fan-out's outcomes and of the route chunks' (one per
        chunk): which regions and chunks succeeded, never counts or paths."""
        ok = [int(o["areaId"]) for o in outcomes if o["status"] == "ok"]
        return cls(
            plan=plan,
            regions=tuple(ok),
            # withdraw stale documents only after a run of every region that all succeeded
            complete=len(ok) == len(outcomes) and plan.all_regions,
            orders=tuple(int(o["areaId"]) for o in orders if o["status"] == "ok"),
            segments=(
                {
                    "status": "ok",
                    "potentialPath": segments.get("potentialPath"),
                    "supportPaths": segments.get("supportPaths"),
                }
                if segments and segments["status"] == "ok"
                else None
            ),
            route_chunks=len(routes),
            routed=tuple(int(o["chunk"]) for o in routes if o["status"] == "ok"),
        )

    def to_json(self) -> dict[str, Any]:
        plan = {key: value for key, value in self.plan.to_json().items() if key != "regions"}
        return {
            **plan,
            "regions": list(self.regions),
            "complete": self.complete,
            "orders": list(self.orders),
            "segments": self.segments,
            "routeChunks": self.route_chunks,
            "routed": list(self.routed),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PublishRequest:
        regions = tuple(int(area) for area in data.get("regions") or [])
        return cls(
            plan=RunPlan.from_json({**data, "regions": list(regions)}),
            regions=regions,
            complete=bool(data.get("complete", False)),
            orders=tuple(int(area) for area in data.get("orders") or []),
            segments=dict(data["segments"]) if data.get("segments") else None,
            route_chunks=int(data.get("routeChunks") or 0),
            routed=tuple(int(chunk) for chunk in data.get("routed") or []),
        )


class RegionOutcome(TypedDict):
    """What the scoring of one region reports (`score_region` activity output, or the
    orchestrator's "failed" outcome after the last retry)."""

    areaId: int
    status: str
    outlets: NotRequired[int]
    reps: NotRequired[int]
    lines: NotRequired[int]
    outletsWithOpportunity: NotRequired[int]
    skusToPush: NotRequired[int]
    visitResponse: NotRequired[dict[str, Any] | None]
    gapPersistence: NotRequired[dict[str, Any] | None]
    pushFloor: NotRequired[dict[str, Any] | None]
    paths: NotRequired[dict[str, str]]
    inputRows: NotRequired[dict[str, int]]
    quarantined: NotRequired[dict[str, dict[str, int]]]
    seconds: NotRequired[float]
    error: NotRequired[str]


class OrderOutcome(TypedDict):
    """What one region's proposed orders report (`propose_orders` activity output)."""

    areaId: int
    status: str
    paths: NotRequired[dict[str, str]]
    customers: NotRequired[int]
    orders: NotRequired[int]
    lines: NotRequired[int]
    kinds: NotRequired[dict[str, int]]
    calibration: NotRequired[str]
    """"kept": calibrated on the kept scores of an earlier week; "scored": scored for it."""
    seconds: NotRequired[float]
    error: NotRequired[str]


class SegmentOutcome(TypedDict):
    """What the segmentation of all outlets reports (`segment_outlets` activity output)."""

    status: str
    k: NotRequired[int]
    kChosenBy: NotRequired[str]
    segments: NotRequired[list[dict[str, Any]]]
    retired: NotRequired[list[str]]
    outlets: NotRequired[int]
    potentialRows: NotRequired[int]
    potentialPath: NotRequired[str]
    supportPaths: NotRequired[dict[str, str]]
    written: NotRequired[int]
    withdrawn: NotRequired[int]
    seconds: NotRequired[float]
    error: NotRequired[str]


class RouteOutcome(TypedDict):
    """What the routing of one chunk of reps reports (`route_chunk` activity output, or the
    orchestrator's "failed" outcome after the last retry)."""

    chunk: int
    status: str
    reps: NotRequired[int]
    visits: NotRequired[int]
    seconds: NotRequired[float]
    error: NotRequired[str]
