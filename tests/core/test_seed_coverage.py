from synth_assets.core.metrics.thresholds import DEFAULT_THRESHOLDS
from synth_assets.core.seed_coverage import TAIL_MIN_ROWS, thin_categories, thin_categories_table


def test_the_minimum_is_the_gates_default():
    assert int(DEFAULT_THRESHOLDS["tail_min_rows"].value) == TAIL_MIN_ROWS


def test_categories_with_fewer_seeds_than_the_minimum_are_named_thinnest_first():
    counts = {("code", "strings"): 10, ("math", "geometry"): 2, ("general", "poems"): 1, ("math", "ratios"): 5}
    thin = thin_categories(counts, min_rows=5)
    assert [(c.domain, c.category, c.seeds) for c in thin] == [("general", "poems", 1), ("math", "geometry", 2)]
    assert "| math | geometry | 2 | 5 |" in thin_categories_table(thin)
    assert thin_categories({("code", "strings"): 5}, min_rows=5) == []
    assert thin_categories_table([]).startswith("Every category")


def test_the_warning_names_the_category_its_count_the_minimum_and_both_fixes():
    [thin] = thin_categories({("math", "geometry"): 2}, min_rows=5)
    warning = thin.warning()
    assert "seed category math/geometry has 2 seed(s)" in warning
    assert "the 5 rows per category the tail_coverage gate asks" in warning
    assert "add 3 or more seeds of domain 'math' and category 'geometry' to data/seeds/" in warning
    assert warning.endswith("ops: {mixed_training_set_tail_coverage: {config: {min_rows: 2}}}")
