"""Sensors that start a run when input files change: seeds, human pairs, the review decisions.

Each sensor keeps a cursor: the JSON of `{"files": {path: {sha256, mtime_ns, size}}, "changes": n}`
for the files it watches, paths relative to the data folder. A file is hashed again only when its
size or modification time moved, and a run is requested only when a hash changed, a file appeared
or a file went away: the same content never starts a second run (touching a file does not either).
The run key is `<n>:<digest of the files>`, so a tick that is retried after the run launched but
before the cursor was stored cannot start the run twice, while a file changed back to an earlier
content still counts as a change.

The data folder is the `source_files` resource's root (`definitions.py` sets it from
`SYNTH_DATA_DIR`, default `data`), so the sensors watch the folder the assets read. On its first evaluation (empty cursor) a sensor sees every file as new and requests one run, which
brings the graph up to date with the files it found.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from resources.source_files import SourceFiles
from sensors.runs import REFRESH_TAG, batch_run_requests
from synth_assets.assets.partitions import SEED_BATCHES, UNION_ASSET_KEYS
from synth_assets.core.batches import batch_key

__all__ = [
    "FileChanges",
    "FileFingerprint",
    "file_changes",
    "file_sensors",
    "human_files_sensor",
    "review_decisions_sensor",
    "scan",
    "seed_files_sensor",
]

MINIMUM_INTERVAL_SECONDS = 30
SEED_PATTERNS = ("seeds/*.jsonl",)


@dataclass(frozen=True)
class FileFingerprint:
    sha256: str
    mtime_ns: int
    size: int

    def as_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "mtime_ns": self.mtime_ns, "size": self.size}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan(root: Path, patterns: tuple[str, ...], known: Mapping[str, FileFingerprint]) -> dict[str, FileFingerprint]:
    """Fingerprints of the files under `root` matching `patterns` (relative glob patterns).
    A file whose size and mtime match `known` keeps its known hash without being read."""
    found: dict[str, FileFingerprint] = {}
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if not path.is_file():
                continue
            key = path.relative_to(root).as_posix()
            stat = path.stat()
            previous = known.get(key)
            if previous and (previous.mtime_ns, previous.size) == (stat.st_mtime_ns, stat.st_size):
                found[key] = previous
            else:
                found[key] = FileFingerprint(_sha256(path), stat.st_mtime_ns, stat.st_size)
    return found


@dataclass(frozen=True)
class FileChanges:
    added: list[str]
    changed: list[str]
    removed: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def describe(self) -> str:
        parts = [f"{label} {', '.join(paths)}" for label, paths in
                 (("new:", self.added), ("changed:", self.changed), ("removed:", self.removed)) if paths]
        return "; ".join(parts) or "no change"


def file_changes(before: Mapping[str, FileFingerprint], after: Mapping[str, FileFingerprint]) -> FileChanges:
    """What differs in content between two scans; a file with a new mtime but the same hash has not changed."""
    return FileChanges(
        added=sorted(set(after) - set(before)),
        changed=sorted(k for k in set(after) & set(before) if after[k].sha256 != before[k].sha256),
        removed=sorted(set(before) - set(after)),
    )


def _read_cursor(cursor: str | None) -> tuple[dict[str, FileFingerprint], int]:
    if not cursor:
        return {}, 0
    try:
        state = json.loads(cursor)
        files = {path: FileFingerprint(**fp) for path, fp in state["files"].items()}
        return files, int(state["changes"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(
            f"the sensor cursor is not the JSON this sensor writes ({exc!r}); "
            "clear the cursor in the UI to rescan every file"
        ) from exc


def _write_cursor(files: Mapping[str, FileFingerprint], changes: int) -> str:
    return json.dumps({"files": {k: files[k].as_json() for k in sorted(files)}, "changes": changes}, sort_keys=True)


def _evaluate(
    context: dg.SensorEvaluationContext, root: Path, name: str, patterns: tuple[str, ...], what: str,
    react: Callable[[FileChanges, str, dict[str, str]], dg.SensorResult] | None = None,
) -> dg.SensorResult:
    """Scan the files under `root`, compare them with the cursor, and on a change ask `react`
    (default: one run request) for the runs, with the change's run key and tags; the cursor moves
    on either way."""
    before, changes = _read_cursor(context.cursor)
    after = scan(root, patterns, before)
    diff = file_changes(before, after)
    if not diff:
        # Store refreshed mtimes anyway, so a touched file is not hashed on every tick.
        return dg.SensorResult(skip_reason=f"no change in {what} under {root}", cursor=_write_cursor(after, changes))
    context.log.info(f"{what} under {root}: {diff.describe()}")
    run_key = f"{changes + 1}:{_digest(after)}"
    tags = {REFRESH_TAG: name, "synth/changed_files": _tag(diff)}
    result = (react or _one_run)(diff, run_key, tags)
    return dg.SensorResult(run_requests=result.run_requests, dynamic_partitions_requests=result.dynamic_partitions_requests,
                           cursor=_write_cursor(after, changes + 1))


def _one_run(diff: FileChanges, run_key: str, tags: dict[str, str]) -> dg.SensorResult:
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=run_key, tags=tags)])


def _digest(files: Mapping[str, FileFingerprint]) -> str:
    return hashlib.sha256(_write_cursor(files, 0).encode()).hexdigest()[:16]


def _tag(diff: FileChanges) -> str:
    """Tag values are limited in length: the change, shortened."""
    text = diff.describe()
    return text if len(text) <= 200 else text[:199] + "…"


@dg.sensor(
    job_name="synthesize",
    minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="A new or changed seed file (data/seeds/*.jsonl) adds its seed batch (partition) and runs "
    "that batch only; the last run of a tick also rebuilds the corpus, mix and export from every batch. A "
    "removed file removes its partition and rebuilds the union without it.",
)
def seed_files_sensor(context: dg.SensorEvaluationContext, source_files: SourceFiles) -> dg.SensorResult:
    return _evaluate(context, Path(source_files.root), "seed_files_sensor", SEED_PATTERNS, "seed files", _seed_batch_runs)


def _seed_batch_runs(diff: FileChanges, run_key: str, tags: dict[str, str]) -> dg.SensorResult:
    """A run per new or changed batch (the last also rebuilds the union), partitions added and removed."""
    removed = [batch_key(path) for path in diff.removed]
    requests = batch_run_requests([batch_key(path) for path in (*diff.added, *diff.changed)], tags, run_key)
    if not requests:  # only removals: rebuild the union without the removed batches
        requests = [dg.RunRequest(asset_selection=UNION_ASSET_KEYS, run_key=run_key, tags=tags)]
    partition_requests = []
    if diff.added:
        partition_requests.append(SEED_BATCHES.build_add_request([batch_key(path) for path in diff.added]))
    if removed:
        partition_requests.append(SEED_BATCHES.build_delete_request(removed))
    return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=partition_requests)


@dg.sensor(
    target=dg.AssetSelection.assets("human_reference").downstream(),
    minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="New, changed or removed human pairs (data/human/*.jsonl) re-materialize human_reference "
    "and everything downstream of it (dedup, mix, review, export, card).",
)
def human_files_sensor(context: dg.SensorEvaluationContext, source_files: SourceFiles) -> dg.SensorResult:
    return _evaluate(context, Path(source_files.root), "human_files_sensor", ("human/*.jsonl",), "human reference files")


@dg.sensor(
    target=dg.AssetSelection.assets("review_decisions").downstream(),
    minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="An updated data/review/decisions.jsonl re-reads the decisions and rebuilds the reviewed "
    "mix (and what reads it).",
)
def review_decisions_sensor(context: dg.SensorEvaluationContext, source_files: SourceFiles) -> dg.SensorResult:
    return _evaluate(context, Path(source_files.root), "review_decisions_sensor", ("review/decisions.jsonl",), "review decisions")


file_sensors = [seed_files_sensor, human_files_sensor, review_decisions_sensor]
