"""Persistent segment identity across re-runs: ids, names, descriptions and user tags survive.

A re-run clusters from scratch, so its segments come out in any order. Each new segment is
matched to the previous run's segments by **centre similarity**: the Bhattacharyya coefficient
(sum of sqrt(p q)) of the two segments' mean purchase profiles over the level keys, 1 for
identical mixes. The one-to-one assignment maximising total similarity (Hungarian) is kept
where the similarity is at least `match_min_similarity`: such a segment is the *same* and keeps
the previous id, name, description and tags.

The other segments are explained by where their outlets were before (the outlet flow):

* **merged**: it draws at least `lineage_min_share` of its outlets from two or more previous
  segments (a matched segment that absorbed an unmatched previous one is merged too);
* **split**: it draws them from one previous segment that also lives on in another segment;
* **new**: otherwise. Unmatched previous segments are **retired**.

Merged and split segments get a new id and inherit the tags of their sources. Ids are never
reused (S1, S2, ... continue from the previous run's counter). Pure: frames and dicts in and out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl
from scipy.optimize import linear_sum_assignment

from scoring.segmentation import INACTIVE_SEGMENT, Segmentation, bhattacharyya
from scoring.segmentation_config import SegmentationConfig

STATE_VERSION = 1


@dataclass(frozen=True)
class SegmentLabel:
    """What a user can edit about a segment."""

    name: str
    description: str
    tags: tuple[str, ...]


def profiles(dna: pl.DataFrame) -> dict[str, dict[str, float]]:
    """SegmentId -> {Key: mean share} from a DNA frame."""
    return {
        segment: dict(zip(group["Key"].to_list(), group["Share"].to_list(), strict=True))
        for (segment,), group in dna.group_by("SegmentId")
    }


def labels_from(data: dict[str, Any]) -> dict[str, SegmentLabel]:
    """SegmentId -> label from a tags mapping {"S1": {"name", "description", "tags"}}."""
    out = {}
    for segment, entry in data.items():
        tags = entry.get("tags", [])
        if isinstance(tags, str):
            tags = tags.split()
        out[str(segment)] = SegmentLabel(
            name=str(entry.get("name", "")),
            description=str(entry.get("description", "")),
            tags=tuple(str(tag) for tag in tags),
        )
    return out


def similarity_matrix(
    new: dict[str, dict[str, float]], old: dict[str, dict[str, float]]
) -> tuple[list[str], list[str], np.ndarray]:
    """(new ids, old ids, similarity[new, old]) with both id lists sorted."""
    new_ids, old_ids = sorted(new), sorted(old, key=_id_order)
    matrix = np.array(
        [[bhattacharyya(new[a], old[b]) for b in old_ids] for a in new_ids], dtype=np.float64
    ).reshape(len(new_ids), len(old_ids))
    return new_ids, old_ids, matrix


def _id_order(segment: str) -> tuple[int, str]:
    digits = "".join(ch for ch in segment if ch.isdigit())
    return (int(digits) if digits else 0, segment)


def outlet_flow(new: pl.DataFrame, old: pl.DataFrame | None) -> pl.DataFrame:
    """New, Old, Outlets: how many outlets of each new segment were in each old segment."""
    if old is None or old.is_empty():
        return pl.DataFrame(schema={"New": pl.String, "Old": pl.String, "Outlets": pl.UInt32})
    return (
        new.filter(pl.col("SegmentId") != INACTIVE_SEGMENT)
        .select("CustomerId", New="SegmentId")
        .join(
            old.filter(pl.col("SegmentId") != INACTIVE_SEGMENT).select(
                "CustomerId", Old="SegmentId"
            ),
            on="CustomerId",
        )
        .group_by("New", "Old")
        .agg(Outlets=pl.len())
        .sort("New", "Old")
    )


def identify(
    result: Segmentation,
    config: SegmentationConfig,
    state: dict[str, Any] | None = None,
    previous_outlets: pl.DataFrame | None = None,
    edits: dict[str, Any] | None = None,
) -> tuple[Segmentation, dict[str, Any]]:
    """Gives the provisional segments of `result` their persistent ids and labels.

    state: the previous run's state (as returned here) or None; previous_outlets: its
    CustomerId, SegmentId; edits: the user's tags mapping (ids of the previous run, or of this
    run when there is none). Returns the renamed result (segments gain Name, Description, Tags,
    Status, PreviousIds, Similarity) and the new state to store.
    """
    edited = labels_from(edits or {})
    same_level = state is not None and state.get("level") == config.level
    old_segments: dict[str, dict[str, Any]] = (
        {entry["id"]: entry for entry in state["segments"]} if same_level and state else {}
    )
    old_labels = {
        segment: edited.get(
            segment,
            SegmentLabel(entry["name"], entry.get("description", ""), tuple(entry["tags"])),
        )
        for segment, entry in old_segments.items()
    }
    next_id = int(state.get("nextId", 1)) if state else 1
    new_profiles = profiles(result.dna)
    new_ids, old_ids, sim = similarity_matrix(
        new_profiles, {k: v["profile"] for k, v in old_segments.items()}
    )

    matched: dict[str, str] = {}
    if sim.size:
        rows, cols = linear_sum_assignment(-sim)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if sim[r, c] >= config.match_min_similarity:
                matched[new_ids[r]] = old_ids[c]
    flow = outlet_flow(result.outlets, previous_outlets if same_level else None)
    from_old: dict[str, dict[str, float]] = {}
    for (new_id,), group in flow.group_by("New"):
        total = float(group["Outlets"].sum())
        from_old[str(new_id)] = {
            str(old): count / total
            for old, count in zip(group["Old"].to_list(), group["Outlets"].to_list(), strict=True)
            if count / total >= config.lineage_min_share
        }
    matched_old = set(matched.values())

    auto = {row["SegmentId"]: row for row in result.segments.iter_rows(named=True)}
    rename: dict[str, str] = {}
    rows_out = []
    for new_id in sorted(new_profiles, key=_id_order):
        sources = from_old.get(new_id, {})
        best = float(sim[new_ids.index(new_id)].max()) if sim.size else None
        if new_id in matched:
            segment = matched[new_id]
            absorbed = [old for old in sources if old != segment and old not in matched_old]
            status = "merged" if absorbed else "same"
            previous = [segment, *sorted(absorbed, key=_id_order)]
            label = old_labels[segment]
        else:
            segment = f"S{next_id}"
            next_id += 1
            previous = sorted(sources, key=_id_order)
            status = "merged" if len(previous) >= 2 else "split" if previous else "new"
            label = _inherited(previous, old_labels, auto[new_id])
        rename[new_id] = segment
        rows_out.append(
            {
                "Provisional": new_id,
                "SegmentId": segment,
                "Name": label.name,
                "Description": label.description,
                "Tags": " ".join(label.tags),
                "Status": status,
                "PreviousIds": " ".join(previous),
                "Similarity": best,
            }
        )
    # tags of this run's ids edited directly (first run, or ids that were kept)
    for row in rows_out:
        if row["SegmentId"] in edited and row["SegmentId"] not in old_segments:
            label = edited[row["SegmentId"]]
            row |= {"Name": label.name, "Description": label.description}
            row["Tags"] = " ".join(label.tags)
    labels = pl.DataFrame(
        rows_out,
        schema={
            "Provisional": pl.String,
            "SegmentId": pl.String,
            "Name": pl.String,
            "Description": pl.String,
            "Tags": pl.String,
            "Status": pl.String,
            "PreviousIds": pl.String,
            "Similarity": pl.Float64,
        },
    )
    renamed = _rename(result, rename)
    segments = (
        result.segments.rename({"SegmentId": "Provisional"})
        .join(labels, on="Provisional")
        .drop("Provisional")
    )
    order = ["SegmentId", "Name", "Description", "Tags", "Status", "PreviousIds", "Similarity"]
    segments = segments.select(*order, *[c for c in segments.columns if c not in order]).sort(
        pl.col("SegmentId").str.slice(1).cast(pl.Int64, strict=False), "SegmentId"
    )
    retired = sorted(set(old_segments) - matched_old, key=_id_order)
    info = {
        **renamed.info,
        "retired": retired,
        "status": dict(
            zip(segments["SegmentId"].to_list(), segments["Status"].to_list(), strict=True)
        ),
    }
    final = replace(renamed, segments=segments, info=info)
    return final, new_state(final, config, next_id)


def _inherited(
    previous: list[str], old_labels: dict[str, SegmentLabel], auto: dict[str, Any]
) -> SegmentLabel:
    """Label of a new, merged or split segment: its sources' tags (merged: union), else auto."""
    if not previous:
        return SegmentLabel(auto["AutoName"], "", tuple(auto["AutoTags"].split()))
    tags: list[str] = []
    for old in previous:
        tags += [tag for tag in old_labels[old].tags if tag not in tags]
    names = " + ".join(old_labels[old].name for old in previous)
    kind = "merged" if len(previous) >= 2 else "split"
    descriptions = " / ".join(d for d in (old_labels[o].description for o in previous) if d)
    return SegmentLabel(f"{names} ({kind})", descriptions, tuple(tags))


def _rename(result: Segmentation, rename: dict[str, str]) -> Segmentation:
    def apply(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(pl.col("SegmentId").replace(rename))

    return replace(
        result,
        outlets=apply(result.outlets),
        dna=apply(result.dna),
        patterns=apply(result.patterns),
        potential=apply(result.potential),
        mix=apply(result.mix),
    )


def new_state(result: Segmentation, config: SegmentationConfig, next_id: int) -> dict[str, Any]:
    """What the next run needs to keep identities: level, id counter, labels and profiles."""
    prof = profiles(result.dna)
    return {
        "version": STATE_VERSION,
        "level": config.level,
        "nextId": next_id,
        "segments": [
            {
                "id": row["SegmentId"],
                "name": row["Name"],
                "description": row["Description"],
                "tags": row["Tags"].split(),
                "profile": prof.get(row["SegmentId"], {}),
            }
            for row in result.segments.iter_rows(named=True)
        ],
    }


def tags_document(result: Segmentation) -> dict[str, Any]:
    """The editable tags file: {SegmentId: {name, description, tags, ...read-only hints}}."""
    return {
        row["SegmentId"]: {
            "name": row["Name"],
            "description": row["Description"],
            "tags": row["Tags"].split(),
            "suggested": row["AutoTags"].split(),
            "outlets": row["Outlets"],
            "topKeys": row["TopKeys"],
            "status": row["Status"],
        }
        for row in result.segments.iter_rows(named=True)
    }
