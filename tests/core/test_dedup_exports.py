"""The dedup package's public names, and that it stays free of Dagster."""

from __future__ import annotations

from synth_assets.core import dedup


def test_all_lists_the_public_names() -> None:
    public = {name for name in vars(dedup) if not name.startswith("_")}
    modules = {  # submodules show up as attributes once imported
        "clusters",
        "decontamination",
        "exact",
        "jaccard",
        "lsh",
        "minhash",
        "near",
        "normalize",
        "policy",
        "reasons",
        "semantic",
        "shingles",
    }
    assert set(dedup.__all__) == public - modules
    for name in dedup.__all__:
        assert getattr(dedup, name) is not None
