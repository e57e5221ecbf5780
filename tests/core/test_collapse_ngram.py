"""The Kneser-Ney trigram model: normalised, finite on unseen text, sampled exactly and reproducibly."""

import numpy as np
import pytest

from synth_assets.core.collapse.ngram import (
    BOS_ID,
    EOS_ID,
    UNK_ID,
    KneserNeyTrigram,
    Vocabulary,
    distinct_n,
    tokenize,
)

DOCS = [
    "the cat sat on the mat .",
    "the dog sat on the log .",
    "a cat saw the dog .",
    "the cat ate .",
    "a dog ate the bone on the mat .",
]


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.build([tokenize(d) for d in DOCS], min_count=2)


@pytest.fixture(scope="module")
def model(vocab) -> KneserNeyTrigram:
    return KneserNeyTrigram([vocab.encode(tokenize(d)) for d in DOCS], len(vocab))


def test_tokenize_lowercases_and_splits_punctuation():
    assert tokenize("Don't PANIC, 42 times!") == ["don't", "panic", ",", "42", "times", "!"]


def test_vocabulary_reserves_special_ids_and_maps_rare_words_to_unk(vocab):
    assert vocab.words[:3] == ("<s>", "</s>", "<unk>")
    assert "bone" not in vocab.words  # seen once, below min_count=2
    assert vocab.encode(["bone", "cat"]).tolist() == [UNK_ID, vocab.words.index("cat")]


@pytest.mark.parametrize("context", [("<s>", "<s>"), ("the", "cat"), ("cat", "the"), ("<unk>", "<unk>")])
def test_every_next_token_distribution_sums_to_one(vocab, model, context):
    u, v = (vocab.words.index(w) for w in context)
    p = model.distribution(u, v)
    assert p.sum() == pytest.approx(1.0)
    assert p[BOS_ID] == 0.0
    assert (p[1:] > 0).all()


def test_log_probs_agree_with_the_distribution(vocab, model):
    doc = vocab.encode(["the", "cat"])
    logs = model.log_probs([doc])
    assert len(logs) == 3  # "the", "cat", then EOS
    the, cat = doc.tolist()
    assert logs[0] == pytest.approx(np.log(model.distribution(BOS_ID, BOS_ID)[the]))
    assert logs[2] == pytest.approx(np.log(model.distribution(the, cat)[EOS_ID]))


def test_seen_text_beats_shuffled_text_and_unseen_text_is_finite(vocab, model):
    seen = [vocab.encode(tokenize(DOCS[0]))]
    shuffled = [vocab.encode(list(reversed(tokenize(DOCS[0]))))]
    unseen = [vocab.encode(tokenize("zebra quantum ."))]
    assert model.perplexity(seen) < model.perplexity(shuffled)
    assert np.isfinite(model.perplexity(unseen))


def test_sampling_is_reproducible_and_ends_at_max_tokens(model):
    first = model.sample(20, np.random.default_rng(1), max_tokens=6)
    again = model.sample(20, np.random.default_rng(1), max_tokens=6)
    assert [d.tolist() for d in first] == [d.tolist() for d in again]
    assert all(len(d) <= 6 and BOS_ID not in d and EOS_ID not in d for d in first)


def test_sampled_first_tokens_follow_the_model(model):
    samples = model.sample(20_000, np.random.default_rng(2), max_tokens=1)
    counts = np.bincount([d[0] if len(d) else EOS_ID for d in samples], minlength=model.vocab_size)
    total_variation = 0.5 * np.abs(counts / counts.sum() - model.distribution(BOS_ID, BOS_ID)).sum()
    assert total_variation < 0.02


def test_distinct_n_counts_unique_ngrams_inside_documents():
    docs = [np.array([1, 2, 1, 2]), np.array([3])]
    assert distinct_n(docs, 1) == pytest.approx(3 / 5)
    assert distinct_n(docs, 2) == pytest.approx(2 / 3)
    assert distinct_n(docs, 1, max_tokens=2) == pytest.approx(1.0)


def test_empty_training_set_is_an_error():
    with pytest.raises(ValueError, match="docs"):
        KneserNeyTrigram([], 10)
