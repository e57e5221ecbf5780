"""semantic_duplicates on planted close embeddings, with both candidate searches."""

from __future__ import annotations

import numpy as np
import pytest

from synth_assets.core.dedup.semantic import (
    SemanticConfig,
    semantic_candidate_pairs,
    semantic_duplicates,
)


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _near(vector: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at exactly this cosine from `vector`."""
    other = rng.standard_normal(vector.shape)
    other -= other @ vector * vector
    other /= np.linalg.norm(other)
    return cosine * vector + np.sqrt(1 - cosine**2) * other


@pytest.fixture
def embeddings() -> np.ndarray:
    rng = np.random.default_rng(0)
    rows = _unit(rng.standard_normal((300, 64)).astype(np.float64)).astype(np.float64)
    rows[10] = _near(rows[3], 0.97, rng)  # goes, kept 3
    rows[20] = _near(rows[3], 0.99, rng)  # goes, kept 3
    rows[30] = _near(rows[7], 0.94, rng)  # control just under the threshold: stays
    rows[40] = rows[8]  # exact copy: goes, kept 8
    rows[50] = _near(rows[40], 0.96, rng)  # goes via 40, kept 8
    return _unit(rows)


EXPECTED = [(10, 3), (20, 3), (40, 8), (50, 8)]


@pytest.mark.parametrize("index", ["exact", "lsh", "auto"])
def test_planted_semantic_duplicates(embeddings: np.ndarray, index: str) -> None:
    config = SemanticConfig(index=index, block_size=64)
    removals = semantic_duplicates(embeddings, config)
    assert [(r.index, r.kept_index) for r in removals] == EXPECTED
    assert removals[0].similarity == pytest.approx(0.97, abs=1e-5)
    assert removals[2].similarity == pytest.approx(1.0, abs=1e-5)


def test_lsh_search_is_deterministic_and_agrees_with_exact(embeddings: np.ndarray) -> None:
    exact = semantic_candidate_pairs(embeddings, SemanticConfig(index="exact", block_size=50))
    lsh = SemanticConfig(index="lsh", seed=3)
    first, again = semantic_candidate_pairs(embeddings, lsh), semantic_candidate_pairs(embeddings, lsh)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(first, exact, strict=True):
        np.testing.assert_array_equal(a, b)


def test_auto_index_switches_on_size() -> None:
    config = SemanticConfig(exact_max_rows=100)
    assert config.index_for(100) == "exact" and config.index_for(101) == "lsh"
    assert SemanticConfig().lsh_tables > 1
    assert "SimHash" in str(config)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"threshold": 1.5}, "threshold"),
        ({"batch_size": 0}, "batch_size"),
        ({"index": "faiss"}, "index"),
        ({"exact_max_rows": -1}, "exact_max_rows"),
        ({"block_size": 0}, "block_size"),
        ({"lsh_bits": 65}, "lsh_bits"),
        ({"lsh_recall": 1.0}, "lsh_recall"),
        ({"bucket_window": 1}, "bucket_window"),
    ],
)
def test_config_validation_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SemanticConfig(**kwargs)


def test_input_checks() -> None:
    with pytest.raises(ValueError, match="normalised"):
        semantic_duplicates(np.ones((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="2-D"):
        semantic_duplicates(np.ones(4, dtype=np.float32))
    assert semantic_duplicates(np.empty((0, 8), dtype=np.float32)) == []
    assert semantic_duplicates(_unit(np.ones((1, 8)))) == []
