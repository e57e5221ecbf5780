"""The trigram LM retrained on its own samples: perplexity rises under replace, the mix holds it.

The corpus is built here (a toy language with a Zipfian vocabulary and sparse word-to-word
transitions), so these tests run before and independently of the shipped human text.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synth_assets.core.collapse import NgramCollapseConfig, load_human_texts, run_ngram_collapse

SMALL = NgramCollapseConfig(generations=5, distinct_tokens=3_000, seed=0)


def make_toy_corpus(n_docs: int = 300, vocab_size: int = 400, seed: int = 7) -> list[str]:
    """Documents from a random bigram language: Zipfian word frequencies, 8 successors per word."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab_size + 1) ** 1.1
    p /= p.sum()
    successors = rng.choice(vocab_size, size=(vocab_size, 8), p=p)
    weights = 1.0 / np.arange(1, 9)
    weights /= weights.sum()
    texts = []
    for _ in range(n_docs):
        word, words = rng.choice(vocab_size, p=p), []
        for _ in range(rng.integers(15, 50)):
            words.append(f"w{word}")
            word = successors[word, rng.choice(8, p=weights)]
        texts.append(" ".join(words) + ".")
    return texts


def write_toy_human_dir(directory: Path, n_docs: int = 300) -> Path:
    """The toy corpus as data/human-style JSONL (instruction = first half, response = second half)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "toy.jsonl").open("w", encoding="utf-8") as handle:
        for i, text in enumerate(make_toy_corpus(n_docs)):
            words = text.split()
            row = {
                "id": f"toy-{i}",
                "domain": "general",
                "category": "toy",
                "instruction": " ".join(words[: len(words) // 2]),
                "response": " ".join(words[len(words) // 2 :]),
            }
            handle.write(json.dumps(row) + "\n")
    return directory


@pytest.fixture(scope="module")
def result():
    return run_ngram_collapse(make_toy_corpus(), SMALL)


def _perplexity(result, regime: str) -> pd.Series:
    table = result.table
    return table[table["regime"] == regime].set_index("generation")["heldout_perplexity"]


def test_table_has_every_generation_and_regime(result):
    assert len(result.table) == 3 * (SMALL.generations + 1)
    assert {"heldout_perplexity", "distinct_1", "distinct_2", "train_word_types"} <= set(result.table.columns)


def test_holds_out_a_fifth_of_the_documents(result):
    assert result.heldout_docs == 60 and result.train_docs == 240


def test_generation_zero_is_shared_by_every_regime(result):
    first = result.table[result.table["generation"] == 0].drop(columns="regime")
    assert len(first.drop_duplicates()) == 1


def test_replace_raises_heldout_perplexity_steadily(result):
    perplexity = _perplexity(result, "replace")
    assert perplexity.is_monotonic_increasing
    assert perplexity[5] > 1.5 * perplexity[0]


def test_the_70_30_mix_stays_flatter_than_replace(result):
    mix, replace = _perplexity(result, "keep_real"), _perplexity(result, "replace")
    assert mix[5] < 1.25 * mix[0]
    assert (mix[1:] < replace[1:]).all()


def test_accumulate_rises_less_than_replace(result):
    assert _perplexity(result, "accumulate")[5] < _perplexity(result, "replace")[5]


def test_replace_loses_word_types(result):
    table = result.table
    types = table[table["regime"] == "replace"].set_index("generation")["train_word_types"]
    assert types[5] < types[0]


def test_same_seed_same_table():
    texts = make_toy_corpus(80)
    config = NgramCollapseConfig(generations=2, distinct_tokens=500, seed=1)
    pd.testing.assert_frame_equal(run_ngram_collapse(texts, config).table, run_ngram_collapse(texts, config).table)


def test_split_does_not_depend_on_document_order():
    texts = make_toy_corpus(80)
    config = NgramCollapseConfig(generations=1, distinct_tokens=500)
    forward = run_ngram_collapse(texts, config).table
    backward = run_ngram_collapse(texts[::-1], config).table
    assert forward["heldout_perplexity"].iloc[0] == pytest.approx(backward["heldout_perplexity"].iloc[0])


def test_too_few_documents_is_an_error():
    with pytest.raises(ValueError, match="texts"):
        run_ngram_collapse(["one doc", "two docs"], SMALL)


@pytest.mark.parametrize(
    ("field", "value"), [("generations", 0), ("real_fraction", 1.0), ("heldout_fraction", 0.0), ("min_count", 0)]
)
def test_invalid_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        NgramCollapseConfig(**{field: value})


def test_load_human_texts_joins_instruction_and_response_and_reports_bad_lines(tmp_path):
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"id": "1", "instruction": "Say hi.", "response": "Hi!"})
        + "\n"
        + "{not json\n"
        + json.dumps({"id": "2", "instruction": "No response"})
        + "\n\n",
        encoding="utf-8",
    )
    (tmp_path / "b.jsonl").write_text(json.dumps({"instruction": "Q", "response": "A"}) + "\n", encoding="utf-8")
    human = load_human_texts(tmp_path)
    assert human.texts == ("Say hi.\n\nHi!", "Q\n\nA")
    assert human.files == ("a.jsonl", "b.jsonl")
    assert [s.split(":")[:2] for s in human.skipped] == [["a.jsonl", "2"], ["a.jsonl", "3"]]


def test_load_human_texts_without_files_names_the_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="empty-dir"):
        load_human_texts(tmp_path / "empty-dir")


SHIPPED_HUMAN_DIR = Path(__file__).resolve().parents[2] / "data" / "human"


@pytest.mark.skipif(not any(SHIPPED_HUMAN_DIR.glob("*.jsonl")), reason="no shipped human text yet")
def test_directions_hold_on_the_shipped_human_text():
    human = load_human_texts(SHIPPED_HUMAN_DIR)
    table = run_ngram_collapse(human.texts, NgramCollapseConfig(generations=5, distinct_tokens=5_000)).table
    perplexity = table.pivot(index="generation", columns="regime", values="heldout_perplexity")
    assert perplexity["replace"].is_monotonic_increasing
    assert perplexity["replace"][5] > 1.5 * perplexity["replace"][0]
    assert perplexity["keep_real"][5] < 1.3 * perplexity["keep_real"][0]
