"""What one huge input line costs the whole graph: a 10 MB instruction in a small seed file.

The issue this answers: a 10 MB instruction was accepted at ingest, made the run take 4 GB and 3
minutes in dedup, and then the blocking `corpus_schema` gate stopped the export for everyone. Now
ingest quarantines any text over the row limit (`SYNTH_MAX_TEXT_CHARS`), so the line costs
the time to read it and nothing after.

Each case runs the whole graph as `synth run` does (`run_graph`: the seed batch, then the union) in
a fresh process, on 12 shipped math seeds plus the shipped human pairs, documents and benchmark
items, the offline `rules` teacher, `semantic: false`:

- `baseline`: the 12 seeds only;
- `10 MB line, default limit`: the 12 seeds and one seed whose instruction is `--mb` MB: it must
  be quarantined, and the run must cost about what the baseline costs;
- `10 MB line, limit raised` (with `--unguarded`): the same with the limit raised above
  the line's size, so the line goes through as it did before ingest checked sizes: what the
  door saves. It can take minutes and gigabytes.

Columns: wall seconds of the child process (the median of `--repeat` interleaved runs; the
unguarded case runs once), its peak resident memory (the largest process of the
run: the Dagster process, or a sandbox server if larger), each as a ratio to the baseline measured
in the same invocation, whether the run succeeded, the gates that failed, and the quarantined lines.

    python bench/oversize_input.py [--mb 10] [--unguarded] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # this checkout, wherever the script is run from
RUN_CONFIG = {"ops": {"deduplicated_corpus": {"config": {"semantic": False}},
                      "mixed_training_set_relative_diversity": {"config": {"fraction": 0.5}}}}


def child(data: str, max_text_chars: int) -> None:
    """Run the graph on `data` and print what happened as one JSON line."""
    import dagster as dg

    from synth_assets.core.input_rules import InputLimits
    from synth_assets.definitions import build_resources
    from synth_assets.graph_run import run_graph

    resources = build_resources(data, limits=InputLimits(max_text_chars=max_text_chars))
    run = run_graph(dg.DagsterInstance.ephemeral(), resources, run_config=RUN_CONFIG)
    quarantined = len(resources["warehouse"].read_table("quarantine"))
    peak_kb = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    failed = sorted({c.check_name for c in run.get_asset_check_evaluations() if not c.passed})
    print(json.dumps({"success": run.success, "failed": failed, "quarantined": quarantined, "peak_mb": peak_kb / 1024}))


def write_inputs(root: Path, huge_mb: float) -> None:
    import shutil

    (root / "seeds").mkdir(parents=True)
    for folder in ("human", "documents", "benchmarks"):
        shutil.copytree(REPO / "data" / folder, root / folder, ignore=shutil.ignore_patterns("*.md"))
    lines = (REPO / "data" / "seeds" / "math.jsonl").read_text(encoding="utf-8").splitlines()[::4][:12]
    if huge_mb:
        words = "How many apples are there if each of the baskets holds seven? " * int(huge_mb * 1e6 / 63)
        lines.append(json.dumps({"id": "math-huge", "domain": "math", "category": "arithmetic",
                                 "instruction": words, "answer": "42"}))
    (root / "seeds" / "math.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def measure(huge_mb: float, max_text_chars: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="synth-oversize-") as tmp:
        data = Path(tmp) / "data"
        write_inputs(data, huge_mb)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--child", str(data), "--max-text-chars", str(max_text_chars)],
                              capture_output=True, text=True, cwd=tmp, check=False)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"the run failed to complete:\n{done.stderr[-3000:]}")
    return {"seconds": seconds, **json.loads(done.stdout.strip().splitlines()[-1])}


def _median(found: list[dict]) -> dict:
    """The run of median wall time (its memory with it); every run must agree on the outcome."""
    assert len({(r["success"], r["quarantined"]) for r in found}) == 1, found
    return sorted(found, key=lambda r: r["seconds"])[len(found) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=10.0, help="size of the huge instruction, in MB (default 10)")
    parser.add_argument("--unguarded", action="store_true", help="also run with the limit raised above the line")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of the baseline and the guarded case, interleaved; the median is shown (default 3)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--max-text-chars", type=int, default=20_000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.max_text_chars)
        return

    from synth_assets.core.schema import MAX_TEXT_CHARS

    load_before = os.getloadavg()
    cases = [("baseline", 0.0, MAX_TEXT_CHARS), (f"{args.mb:g} MB line, default limit", args.mb, MAX_TEXT_CHARS)]
    if args.unguarded:
        cases.append((f"{args.mb:g} MB line, limit raised", args.mb, int(args.mb * 2e6)))
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in cases}
    for position in range(args.repeat):  # interleaved, so a busy spell on the machine hits both cases
        for name, mb, limit in cases:
            if position == 0 or "raised" not in name:
                runs[name].append(measure(mb, limit))
    results = [(name, _median(found)) for name, found in runs.items()]
    base = results[0][1]
    print("| case | wall s | x baseline | peak MB | x baseline | run succeeded | failed gates | quarantined lines |")
    print("| --- | ---: | ---: | ---: | ---: | --- | --- | ---: |")
    for name, r in results:
        print(f"| {name} | {r['seconds']:.1f} | {r['seconds'] / base['seconds']:.2f} | {r['peak_mb']:,.0f} | "
              f"{r['peak_mb'] / base['peak_mb']:.2f} | {'yes' if r['success'] else 'no'} | "
              f"{', '.join(r['failed']) or '-'} | {r['quarantined']} |")
    print(f"\nload average before: {', '.join(f'{x:.2f}' for x in load_before)}; "
          f"after: {', '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
