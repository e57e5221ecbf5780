"""Each stage's run config is derived from its core dataclass: same fields, same defaults, the
dataclass's own validation, and a record of where each value came from."""

import dataclasses
import typing
from dataclasses import dataclass, field

import dagster as dg
import pydantic
import pytest

from resources.teacher.openai_backend import OpenAIOptions
from resources.teacher.resource import TeacherResource
from resources.warehouse import Warehouse
from synth_assets.assets import settings as settings_module
from synth_assets.assets.generation import backtranslated_pairs
from synth_assets.assets.ingest import documents
from synth_assets.assets.settings import STAGE_SETTINGS, CurationSettings, MixSettings
from synth_assets.assets.stage_config import (
    SETTINGS_KEY,
    StageConfig,
    derive,
    given_config,
    recorded_settings,
    settings_in_force,
)
from synth_assets.core.backtranslation_run import BacktranslationConfig
from synth_assets.definitions import build_resources
from tests.pipeline_fixtures import copy_inputs

ALL_SETTINGS = sorted({cls for name in settings_module.__all__
                       if isinstance(cls := getattr(settings_module, name), type) and issubclass(cls, StageConfig)},
                      key=lambda cls: cls.__name__)


def _config_defaults(cls: type[dg.Config]) -> dict:
    """The defaults the launchpad shows: Dagster's config schema of the class, nested included."""
    return {name: f.default_value if f.default_provided else None
            for name, f in cls.to_config_schema().as_field().config_type.fields.items()}


@pytest.mark.parametrize("cls", ALL_SETTINGS, ids=lambda cls: cls.__name__)
def test_a_settings_class_has_every_field_of_its_dataclass_with_the_same_default(cls):
    core = cls.core_class
    init_fields = {f.name for f in dataclasses.fields(core) if f.init}
    assert init_fields <= set(cls.model_fields), f"{cls.__name__} lacks {init_fields - set(cls.model_fields)}"
    extras = set(cls.model_fields) - init_fields
    assert all(cls.model_fields[name].description for name in extras), "an asset-only setting says what it does"
    assert cls().to_core() == core()  # every default, nested ones included
    schema_defaults = _config_defaults(cls)
    for name in init_fields:
        default = getattr(core(), name)
        if dataclasses.is_dataclass(default):
            assert cls().model_dump()[name] == {k: list(v) if isinstance(v, tuple) else v
                                                for k, v in dataclasses.asdict(default).items()
                                                if k in cls.model_fields[name].annotation.model_fields}
        else:
            expected = list(default) if isinstance(default, tuple) else default
            assert schema_defaults[name] == expected, f"the launchpad shows another default for {cls.__name__}.{name}"


def test_every_stage_with_settings_is_reported_by_the_card():
    assert set(STAGE_SETTINGS.values()) <= set(ALL_SETTINGS)


def test_a_field_added_to_a_dataclass_is_run_config_with_no_second_edit():
    @dataclass(frozen=True)
    class Inner:
        threshold: float = 0.5
        bands: int | None = None

    @dataclass(frozen=True)
    class Core:
        rounds: int = 2
        names: tuple[str, ...] = ("a", "b")
        inner: Inner = field(default_factory=lambda: Inner(threshold=0.9))
        _cache: dict = field(default_factory=dict, init=False)

    Settings = derive(Core, "ToySettings", extra={"only_here": (bool, False, "an asset-only switch")})
    assert set(Settings.model_fields) == {"rounds", "names", "inner", "only_here"}
    assert Settings().to_core() == Core()
    assert Settings().inner.threshold == 0.9  # the parent's default instance, not the nested class's own
    configured = Settings(names=["x"], inner={"bands": 4}).to_core()
    assert configured.names == ("x",) and configured.inner == Inner(threshold=0.9, bands=4)

    @dg.asset
    def toy(config: Settings) -> int:  # type: ignore[valid-type]
        return config.to_core().inner.bands

    result = dg.materialize([toy], run_config={"ops": {"toy": {"config": {"inner": {"bands": 7}}}}})
    assert result.output_for_node("toy") == 7


def test_a_field_type_that_cannot_be_run_config_is_refused_when_the_class_is_built():
    @dataclass(frozen=True)
    class Core:
        when: complex = 1j

    with pytest.raises(TypeError, match=r"Core.when: a <class 'complex'> field cannot be run config"):
        derive(Core, "BadSettings")


def test_a_bad_value_fails_with_the_dataclass_message_naming_the_field():
    with pytest.raises(pydantic.ValidationError, match=r"MixConfig.human_fraction must be in \[0, 1\], got 1.5"):
        MixSettings(human_fraction=1.5)
    with pytest.raises(pydantic.ValidationError, match="threshold"):
        CurationSettings(minhash={"threshold": 0.0})


def test_settings_in_force_say_which_values_the_run_config_set():
    config = CurationSettings(semantic=False, minhash={"threshold": 0.7})
    given = given_config({"ops": {"deduplicated_corpus": {"config": {"semantic": False, "minhash": {"threshold": 0.7}}}}},
                         "deduplicated_corpus")
    found = settings_in_force(config, given)
    assert found["semantic"] == {"value": False, "source": "run config"}
    assert found["minhash.threshold"] == {"value": 0.7, "source": "run config"}
    assert found["minhash.num_perm"] == {"value": 128, "source": "default"}
    assert found["minhash.confirm"] == {"value": "exact", "source": "default"}
    assert found["include_corrections"] == {"value": False, "source": "default"}
    assert typing.get_type_hints(type(config).core_class)  # the core class is still reachable


def test_backtranslation_sends_the_temperature_and_max_tokens_it_is_configured_with(tmp_path, chat_server):
    server = chat_server()
    data = copy_inputs(tmp_path / "data", plant_bad_seeds=False)
    warehouse = Warehouse(path=str(data / "warehouse" / "synth.duckdb"))
    teacher = TeacherResource(backend="openai", model="m", warehouse=warehouse,
                              openai=OpenAIOptions(base_urls=[server.url], max_concurrency=4))
    instance = dg.DagsterInstance.ephemeral()
    run_config = {"ops": {"backtranslated_pairs": {"config": {"temperature": 0.3, "max_tokens": 64}}}}
    result = dg.materialize([documents, backtranslated_pairs], resources=build_resources(data, teacher=teacher),
                            run_config=run_config, instance=instance)
    assert result.success
    # instructions are written at the configured temperature, and rated at 0 (greedy); both within max_tokens
    assert {(b["temperature"], b["max_tokens"]) for b in server.bodies} == {(0.3, 64), (0.0, 64)}
    recorded = recorded_settings(instance, "backtranslated_pairs")
    assert recorded["temperature"] == {"value": 0.3, "source": "run config"}
    assert recorded["max_tokens"] == {"value": 64, "source": "run config"}
    assert recorded["threshold"] == {"value": BacktranslationConfig.threshold, "source": "default"}
    metadata = result.asset_materializations_for_node("backtranslated_pairs")[0].metadata
    assert metadata[SETTINGS_KEY].value == recorded
