"""Materialize the three collapse-lab assets on small configs; metadata is there and directions hold."""

import dagster as dg
import pytest

from synth_assets.assets.collapse_lab import COLLAPSE_LAB_GROUP, collapse_lab_assets
from tests.core.test_collapse_language_model import write_toy_human_dir


def _run_config(human_dir: str) -> dg.RunConfig:
    return dg.RunConfig(
        ops={
            "collapse_gaussian_refit": {"config": {"generations": 20, "repetitions": 2_000}},
            "collapse_zipf_tail": {"config": {"generations": 20, "repetitions": 40, "heldout_size": 5_000}},
            "collapse_ngram_lm": {"config": {"human_dir": human_dir, "generations": 5, "distinct_tokens": 3_000}},
        }
    )


@pytest.fixture(scope="module")
def metadata(tmp_path_factory) -> dict[str, dict]:
    human_dir = write_toy_human_dir(tmp_path_factory.mktemp("human"))
    result = dg.materialize(collapse_lab_assets, run_config=_run_config(str(human_dir)))
    assert result.success
    names = [asset.key.to_user_string() for asset in collapse_lab_assets]
    return {
        name: {key: value.value for key, value in result.asset_materializations_for_node(name)[0].metadata.items()}
        for name in names
    }


def test_the_lab_stays_out_of_the_default_job_and_of_automation():
    # The lab is materialized on its own: neither `synth run` nor the follow_upstream sensor runs it.
    from sensors import follow_upstream
    from synth_assets.definitions import defs

    lab = {key for asset in collapse_lab_assets for key in asset.keys}
    assert lab <= set(defs.resolve_asset_graph().get_all_asset_keys())
    assert not lab & set(defs.resolve_job_def("synthesize").asset_layer.executable_asset_keys)
    assert not lab & set(follow_upstream.asset_selection.resolve(defs.resolve_asset_graph()))
    assert {group for asset in collapse_lab_assets for group in asset.group_names_by_key.values()} == {COLLAPSE_LAB_GROUP}


def test_definitions_load():
    dg.Definitions.validate_loadable(dg.Definitions(assets=collapse_lab_assets))


@pytest.mark.parametrize("asset", ["collapse_gaussian_refit", "collapse_zipf_tail", "collapse_ngram_lm"])
def test_each_asset_reports_a_table_a_plot_and_its_runtime(metadata, asset):
    assert metadata[asset]["table"].startswith("| generation |")
    assert metadata[asset]["plot"].startswith("![plot](data:image/png;base64,")
    assert metadata[asset]["runtime_seconds"] >= 0


def test_gaussian_median_variance_collapses_under_replace_only(metadata):
    numbers = metadata["collapse_gaussian_refit"]
    assert numbers["median_variance_replace_ratio"] < 0.2
    assert 0.75 < numbers["median_variance_accumulate_ratio"] < 1.25
    assert numbers["median_variance_replace_ratio"] < numbers["median_variance_keep_real_ratio"]
    assert numbers["median_variance_keep_real_ratio"] < numbers["median_variance_accumulate_ratio"]


def test_zipf_support_shrinks_under_replace_only(metadata):
    numbers = metadata["collapse_zipf_tail"]
    assert numbers["support_size_replace_ratio"] < 0.3
    assert numbers["support_size_accumulate_ratio"] == 1.0
    assert numbers["support_size_replace_ratio"] < numbers["support_size_keep_real_ratio"] < 1.0


def test_language_model_perplexity_rises_under_replace_and_stays_flatter_under_the_mix(metadata):
    numbers = metadata["collapse_ngram_lm"]
    assert numbers["heldout_perplexity_replace_ratio"] > 1.5
    assert numbers["heldout_perplexity_keep_real_ratio"] < 1.25
    assert numbers["train_docs"] == 240 and numbers["skipped_lines"] == 0
    assert "replace" in numbers["examples_last_generation"]


def test_language_model_without_human_text_fails_naming_the_directory(tmp_path):
    missing = tmp_path / "no-human-text"
    with pytest.raises(FileNotFoundError, match="no-human-text"):
        dg.materialize(
            [collapse_lab_assets[2]],
            run_config=dg.RunConfig(ops={"collapse_ngram_lm": {"config": {"human_dir": str(missing)}}}),
        )
