import pytest

from synth_assets.core.mixing import MixConfig, plan_mix


def rows(origin, n, categories=("a", "b"), generation=None):
    gen = generation if generation is not None else (0 if origin == "human" else 1)
    return [{"id": f"{origin}-{i}", "origin": origin, "generation": gen, "domain": "general",
             "category": categories[i % len(categories)]} for i in range(n)]


def test_mix_hits_the_target_fraction_and_is_as_large_as_the_data_allows():
    plan = plan_mix(rows("human", 300) + rows("synthetic", 1000), MixConfig(human_fraction=0.7))
    assert plan.human == 300
    assert abs(plan.human_fraction - 0.7) < 0.01
    assert plan.human + plan.synthetic == 428
    assert sum(r == "over_quota" for r in plan.dropped.values()) == 1000 - plan.synthetic


def test_scarce_synthetic_data_limits_the_human_side():
    plan = plan_mix(rows("human", 300) + rows("synthetic", 30), MixConfig(human_fraction=0.7))
    assert plan.synthetic == 30 and plan.human == 70


def test_generation_cap_keeps_recycled_rows_out():
    plan = plan_mix(rows("human", 70) + rows("synthetic", 30) + rows("old", 5, generation=2) , MixConfig())
    assert all(plan.dropped[f"old-{i}"] == "above_generation_cap" for i in range(5))


def test_rare_categories_keep_rows_and_the_same_seed_gives_the_same_mix():
    synthetic = rows("synthetic", 200, categories=("common",) * 19 + ("rare",))
    plan = plan_mix(rows("human", 70) + synthetic, MixConfig(seed=3))
    chosen = {r["id"]: r["category"] for r in synthetic if r["id"] in set(plan.selected)}
    assert list(chosen.values()).count("rare") >= 10  # round-robin: half of 30 where available
    assert plan_mix(rows("human", 70) + synthetic, MixConfig(seed=3)).selected == plan.selected
    assert plan_mix(rows("human", 70) + synthetic, MixConfig(seed=4)).selected != plan.selected


def test_config_is_validated():
    with pytest.raises(ValueError, match="human_fraction"):
        MixConfig(human_fraction=1.5)


def test_a_quota_takes_one_row_per_seed_before_a_second_row_of_any_seed():
    # 40 synthetic rows in one stratum: 10 from seed s0 (its rewordings), one from each of 30 others
    synthetic = [{"id": f"s0-v{i}", "root_id": "s0", "origin": "synthetic", "generation": 1, "domain": "general",
                  "category": "a"} for i in range(10)]
    synthetic += [{"id": f"s{i}-v0", "root_id": f"s{i}", "origin": "synthetic", "generation": 1, "domain": "general",
                   "category": "a"} for i in range(1, 31)]
    plan = plan_mix(rows("human", 70, categories=("a",)) + synthetic, MixConfig(seed=5))
    chosen = [r for r in synthetic if r["id"] in set(plan.selected)]
    assert plan.synthetic == 30
    assert len({r["root_id"] for r in chosen}) == 30  # 30 of the 31 seeds, one row each
    more = plan_mix(rows("human", 84, categories=("a",)) + synthetic, MixConfig(seed=5))
    assert more.synthetic == 36 and sum(r.startswith("s0-") for r in more.selected) == 6  # all 31 seeds, then 5 more of s0
