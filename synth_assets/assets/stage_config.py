"""Dagster run config derived from a core config dataclass, and the record of the settings in force.

`derive(CoreConfig)` builds a `dg.Config` class with one field per field of the dataclass: the same
name, type and default (a nested dataclass becomes a nested config class, a tuple a list). A field
added to the dataclass shows up in the launchpad with no second edit, and `to_core()` turns the run
config back into the dataclass, whose own checks then validate it.

`settings_in_force` says, for every setting of a stage, the value it ran with and whether the run
config set it or it is the default. Each stage records that in its materialization metadata
(`SETTINGS_KEY`), and the checks and the dataset card read it from there, so a gate holds the
materialization it checks to the settings that made it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar

import dagster as dg
import pydantic

__all__ = ["FROM_DEFAULT", "FROM_RUN_CONFIG", "SETTINGS_KEY", "StageConfig", "derive", "given_config",
           "record_settings", "recorded_settings", "recorded_settings_by_partition", "settings_in_force"]

SETTINGS_KEY = "settings"  # the materialization metadata entry that holds the settings in force
FROM_RUN_CONFIG = "run config"
FROM_DEFAULT = "default"


class StageConfig(dg.Config):
    """A stage's run config, derived from a core dataclass (`core_class`) by `derive`."""

    core_class: ClassVar[type]

    def to_core(self) -> Any:
        """The core dataclass with these values (lists back to tuples where the dataclass has tuples)."""
        hints = typing.get_type_hints(self.core_class)
        values = {}
        for f in dataclasses.fields(self.core_class):
            if not f.init:
                continue
            value = getattr(self, f.name)
            if isinstance(value, StageConfig):
                value = value.to_core()
            elif typing.get_origin(hints[f.name]) is tuple:
                value = tuple(value)
            values[f.name] = value
        return self.core_class(**values)

    @pydantic.model_validator(mode="after")
    def _valid_for_core(self) -> StageConfig:
        self.to_core()  # the dataclass's own checks: a bad value fails when the config is built
        return self


def derive(
    core_class: type,
    name: str,
    *,
    extra: Mapping[str, tuple[type, Any, str]] | None = None,
    defaults: Any = None,
) -> type[StageConfig]:
    """A `StageConfig` class named `name` with the fields of `core_class`, defaulting to
    `defaults` (an instance of it; `core_class()` when None). `extra` adds the settings only the
    asset has, as `{field: (type, default, description)}`; `to_core()` leaves them out."""
    if not dataclasses.is_dataclass(core_class):
        raise TypeError(f"{core_class!r} is not a dataclass")
    defaults = core_class() if defaults is None else defaults
    hints = typing.get_type_hints(core_class)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(core_class):
        if not f.init:
            continue
        kind, default = hints[f.name], getattr(defaults, f.name)
        if dataclasses.is_dataclass(kind):
            nested = derive(kind, name + f.name.title().replace("_", ""), defaults=default)
            fields[f.name] = (nested, pydantic.Field(default_factory=nested))
        else:
            fields[f.name] = (_config_type(kind, f"{core_class.__name__}.{f.name}"), _config_value(default))
    for key, (kind, default, description) in (extra or {}).items():
        if key in fields:
            raise ValueError(f"{name}: extra setting {key!r} is already a field of {core_class.__name__}")
        fields[key] = (kind, pydantic.Field(default=default, description=description))
    model = pydantic.create_model(name, __base__=StageConfig, __module__=__name__, **fields)
    model.core_class = core_class
    return model


def _config_type(kind: Any, where: str) -> Any:
    """The Dagster config type of a dataclass field type: tuples become lists, the rest stays."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple:
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"{where}: only tuple[X, ...] can be run config, got {kind}")
        return list[_config_type(args[0], where)]
    if origin in (typing.Union, types.UnionType):
        return _config_type(next(a for a in args if a is not type(None)), where) | None
    if origin in (list, dict) or kind in (int, float, str, bool):
        return kind
    raise TypeError(f"{where}: a {kind} field cannot be run config; use int, float, str, bool, a tuple, "
                    "a list, a dict or a nested dataclass")


def _config_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def given_config(run_config: Mapping[str, Any] | None, node: str) -> Mapping[str, Any]:
    """What a run's config sets for one node (an asset or a check), without the defaults."""
    return (((run_config or {}).get("ops") or {}).get(node) or {}).get("config") or {}


def settings_in_force(config: dg.Config, given: Mapping[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every setting as `{"value": ..., "source": "run config" | "default"}`, by its dotted path
    (`minhash.threshold`); `given` is what the run config set for the node (`given_config`)."""
    found: dict[str, dict[str, Any]] = {}
    for key in type(config).model_fields:
        value, set_here = getattr(config, key), key in given
        if isinstance(value, dg.Config):
            inner = given[key] if set_here and isinstance(given[key], Mapping) else {}
            found.update(settings_in_force(value, inner, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = {"value": _plain(value), "source": FROM_RUN_CONFIG if set_here else FROM_DEFAULT}
    return found


def _plain(value: Any) -> Any:
    """A value as JSON holds it."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def record_settings(context: dg.AssetExecutionContext, config: dg.Config) -> dict[str, Any]:
    """The materialization metadata entry that records the settings a stage ran with."""
    node = context.op_execution_context.op.name
    return {SETTINGS_KEY: dg.MetadataValue.json(settings_in_force(config, given_config(context.run.run_config, node)))}


def _latest(instance: dg.DagsterInstance, asset: str, partition: str | None = None) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None),
        limit=1,
    ).records
    return records[0] if records else None


def _settings_of(record: dg.EventLogRecord | None) -> dict[str, dict[str, Any]] | None:
    entry = record.asset_materialization.metadata.get(SETTINGS_KEY) if record else None
    return dict(entry.value) if entry is not None else None


def recorded_settings(
    instance: dg.DagsterInstance, asset: str, partition: str | None = None
) -> dict[str, dict[str, Any]] | None:
    """The settings in force of the asset's latest materialization (of `partition`, for a seed
    batch), as `settings_in_force` gives them; None when it was never materialized or recorded none."""
    return _settings_of(_latest(instance, asset, partition))


def recorded_settings_by_partition(
    instance: dg.DagsterInstance, asset: str, partitions: list[str]
) -> dict[str | None, dict[str, dict[str, Any]]]:
    """The recorded settings of each partition's latest materialization (of the asset's latest one,
    keyed None, when it is not partitioned): a seed batch may have run with other settings."""
    latest = _latest(instance, asset)
    if latest is None or latest.partition_key is None:
        found = {None: _settings_of(latest)}
    else:
        found = {p: _settings_of(_latest(instance, asset, p)) for p in partitions}
    return {key: value for key, value in found.items() if value is not None}
