"""`synth`: run the graph, open the UI, trace a row, show what each stage kept and dropped.

Runs made here go to the Dagster instance in `data/dagster_home`, the same one `synth ui` shows,
so a command-line run appears in the UI with its logs and metadata.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

__all__ = ["main"]

DAGSTER_HOME = Path("data") / "dagster_home"


def _project_root() -> Path:
    """The folder with workspace.yaml: the current one or a parent of it."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "workspace.yaml").is_file() and (folder / "synth_assets").is_dir():
            return folder
    sys.exit("synth: run this inside the project (no workspace.yaml found here or above)")


def _enter_project() -> None:
    root = _project_root()
    os.chdir(root)
    home = (root / DAGSTER_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DAGSTER_HOME", str(home))


def _warehouse():
    from synth_assets.definitions import defs

    return defs.resources["warehouse"]


def cmd_run(args: argparse.Namespace) -> int:
    import dagster as dg

    from synth_assets.definitions import defs
    from synth_assets.stats import collect_stats, format_stats

    job = defs.resolve_job_def("synthesize")
    selection = [dg.AssetKey(name.strip()) for name in args.select.split(",")] if args.select else None
    with dg.DagsterInstance.get() as instance:
        _release_dead_runs(instance)
        tags = {"synth/host": socket.gethostname(), "synth/pid": str(os.getpid())}
        result = job.execute_in_process(instance=instance, asset_selection=selection, raise_on_error=False, tags=tags)
    print(format_stats(*collect_stats(_warehouse())))
    teacher = defs.resources["teacher"]
    if getattr(teacher, "backend", "rules") == "rules":
        print("\nTeacher: rules, the offline rule-based stand-in. It is NOT a language model; "
              "see the README's 'Using a real teacher'.")
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        print(f"\nrun {result.run_id} FAILED at {', '.join(failed) or 'a check'}; "
              f"see `synth ui` for its logs", file=sys.stderr)
        return 1
    print(f"\nrun {result.run_id} succeeded; open `synth ui` to see it")
    return 0


def _release_dead_runs(instance) -> None:
    """Mark failed the runs of `synth run` on this machine whose process is gone (killed, crashed),
    and give back the concurrency slots they held, which would otherwise block every later run."""
    import dagster as dg

    host = socket.gethostname()
    stuck = instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
                              tags={"synth/host": host})
    )
    for run in stuck:
        pid = int(run.tags.get("synth/pid", "0"))
        if pid and not _process_alive(pid):
            instance.report_run_failed(run, message=f"process {pid} is gone; marked failed by the next `synth run`")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            print(f"run {run.run_id} (process {pid}) had died; marked failed, its concurrency slots released")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cmd_ui(args: argparse.Namespace) -> int:
    command = ["dagster", "dev", "-w", "workspace.yaml", "-p", str(args.port)]
    os.execvp(command[0], command)
    return 0  # not reached


def cmd_trace(args: argparse.Namespace) -> int:
    from synth_assets.lineage import explain_drop, format_trace, trace_as_dicts, trace_row

    chain = trace_row(_warehouse(), args.row_id)
    if args.why_dropped:
        print(explain_drop(chain))
    elif args.json:
        print(json.dumps(trace_as_dicts(chain), indent=2, default=str))
    else:
        print(format_trace(chain))
    return 0 if chain else 1


def cmd_stats(args: argparse.Namespace) -> int:
    from synth_assets.stats import collect_stats, format_stats

    print(format_stats(*collect_stats(_warehouse())))
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from synth_assets.core.review import agreement_summary

    warehouse = _warehouse()
    if not warehouse.table_exists("review_decisions"):
        print("No review yet: run the graph, then fill in data/review/decisions.jsonl (docs/operations.md).")
        return 1
    decisions = warehouse.read_table("review_decisions")
    summary = agreement_summary(decisions.to_dict("records"))
    print(f"{summary.decided} decided: {summary.accepted} accepted, {summary.rejected} rejected, {summary.edited} edited"
          f" ({int((~decisions['in_mix'].astype(bool)).sum())} more no longer in the mix)")
    if summary.decided:
        print(f"agreement with the gates: {summary.agreement:.1%} (accepted only: {summary.strict_agreement:.1%})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synth", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="materialize the graph (everything by default)")
    run.add_argument("--select", help="comma-separated asset names, e.g. seeds,evolved_instructions")
    run.set_defaults(func=cmd_run)
    ui = commands.add_parser("ui", help="start the Dagster UI on this project")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    trace = commands.add_parser("trace", help="follow a row back to its seed with every decision")
    trace.add_argument("row_id")
    trace.add_argument("--json", action="store_true", help="print the chain as JSON")
    trace.add_argument("--why-dropped", action="store_true", help="say which stage and rule dropped the row")
    trace.set_defaults(func=cmd_trace)
    stats = commands.add_parser("stats", help="rows, the mix and rejection reasons per stage")
    stats.set_defaults(func=cmd_stats)
    review = commands.add_parser("review", help="how often reviewers agreed with the automatic gates")
    review.set_defaults(func=cmd_review)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _enter_project()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
