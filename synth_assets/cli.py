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
import time
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

    from resources.stats import collect_stats, format_stats
    from synth_assets.definitions import defs
    from synth_assets.doctor import sandbox_summary
    from synth_assets.graph_run import run_graph
    from synth_assets.run_display import RunDisplay
    from synth_assets.run_report import collect_failures, format_failures

    select = [name.strip() for name in args.select.split(",")] if args.select else None
    batches = [key.strip() for key in args.batch.split(",")] if args.batch else None
    # The Dagster log goes to a file; the console shows progress (a live bar only on a terminal).
    display = RunDisplay(_source_folder("logs") / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log",
                         live=sys.stdout.isatty() and not args.verbose)
    loggers, run_config = display.loggers(), None
    if args.verbose:
        loggers["console"] = dg.colored_console_logger
        run_config = {"loggers": {"console": {"config": {"log_level": "DEBUG"}}}}
    print(f"Dagster log: {display.log_path}" + ("" if args.verbose else " (--verbose prints it here too)"))
    with dg.DagsterInstance.get() as instance, display:
        _release_dead_runs(instance)
        tags = {"synth/host": socket.gethostname(), "synth/pid": str(os.getpid())}
        try:
            outcome = run_graph(instance, defs.resources, select=select, batches=[] if args.skip_batches else batches,
                                run_config=run_config, tags=tags, loggers=loggers, on_run_start=display.run_started,
                                parallel=args.parallel)
        except ValueError as exc:
            print(f"synth run: {exc}", file=sys.stderr)
            return 2
        failures = collect_failures(outcome, instance)
    sync = outcome.sync
    print(f"\nseed batches: {', '.join(sync.keys) or 'none'}"
          + (f" (new: {', '.join(sync.added)})" if sync.added else "")
          + (f" (removed with their rows: {', '.join(sync.removed)})" if sync.removed else ""))
    if legacy := sync.rows_deleted.get("(written before seed batches)"):
        print(f"dropped {legacy} rows written before seed batches existed; each batch's run made them again")
    print(format_stats(*collect_stats(_warehouse())))
    sandbox_summary(outcome.asset_materializations_for_node("verified_solutions"))
    teachers = {name: defs.resources[name] for name in ("teacher", "answerer", "judge")}
    print("\nTeachers: " + ", ".join(f"{t.role} {t.model_id}" for t in teachers.values()))
    if any(t.backend == "rules" for t in teachers.values()):
        print("rules is the offline rule-based stand-in. It is NOT a language model; "
              "see the README's 'Using a real teacher'.")
    if report := format_failures(failures, verbose=args.verbose):
        print("\n" + report, file=sys.stdout if outcome.success else sys.stderr)
    print(f"\nDagster log of these runs: {display.log_path}")
    if not outcome.success:
        return 1
    print(f"{len(outcome.results)} runs succeeded ({', '.join(outcome.run_ids)}); open `synth ui` to see them")
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


def cmd_merge(args: argparse.Namespace) -> int:
    from resources.merge import merge_batches
    from synth_assets.core.batches import seed_batch_files

    warehouse = _warehouse()
    try:
        merged = merge_batches(warehouse, args.warehouses)
    except (ValueError, OSError) as exc:
        print(f"synth merge: {exc}", file=sys.stderr)
        return 2
    seeds = _source_folder("seeds")
    files = seed_batch_files(seeds)
    for item in merged:
        counts = ", ".join(f"{table} {n}" for table, n in item.rows.items() if n)
        print(f"batch {item.batch} from {item.source}: {counts}")
        if item.batch not in files:
            print(f"  warning: no seed file for batch {item.batch!r} in {seeds}; copy it there, or the next "
                  "run (`synth run`, a sensor's, the corpus materialized in the UI) removes this batch's rows",
                  file=sys.stderr)
    print(f"{len(merged)} batches imported into {warehouse.location}; now `synth run --skip-batches` builds the union")
    return 0


def _source_folder(kind: str) -> Path:
    from synth_assets.definitions import defs

    return defs.resources["source_files"].folder(kind)


def cmd_ui(args: argparse.Namespace) -> int:
    # Dagster through the interpreter running synth, so a venv that is not on PATH still works
    # (`dagster dev` starts its webserver and daemon with sys.executable too).
    command = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-p", str(args.port)]
    os.execv(sys.executable, command)
    return 0  # not reached


def cmd_trace(args: argparse.Namespace) -> int:
    from resources.lineage import explain_drop, format_trace, trace_as_dicts, trace_row

    chain = trace_row(_warehouse(), args.row_id)
    if args.why_dropped:
        print(explain_drop(chain))
    elif args.json:
        print(json.dumps(trace_as_dicts(chain), indent=2, default=str))
    else:
        print(format_trace(chain))
    return 0 if chain else 1


def cmd_stats(args: argparse.Namespace) -> int:
    from resources.stats import collect_stats, format_stats

    warehouse = _warehouse()
    if not args.quick:  # counts come from metadata: only a full read meets a damaged block
        warehouse.verify()
    print(format_stats(*collect_stats(warehouse)))
    if args.quick:
        print("(--quick: the warehouse's blocks were not read, so damage in them would not show here)")
    return 0


def cmd_salvage_cache(args: argparse.Namespace) -> int:
    from resources.salvage import salvage_table
    from resources.teacher.cache import CACHE_TABLE, ensure_cache_table

    warehouse = _warehouse()
    saved = salvage_table(args.damaged, warehouse, CACHE_TABLE, ensure_cache_table)
    print(f"copied {saved.copied} teacher responses from {args.damaged} into {warehouse.location}"
          + (f"; {saved.lost} were in damaged blocks and are lost" if saved.lost else "; none was lost")
          + ". Now `synth run` rebuilds the rest from the inputs.")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    import dagster as dg

    from synth_assets.assets.stage_config import recorded_settings
    from synth_assets.core.review import AgreementScoring
    from synth_assets.review_status import review_report

    with dg.DagsterInstance.get() as instance:  # the edit credit the last review_decisions ran with
        recorded = (recorded_settings(instance, "review_decisions") or {}).get("edit_credit")
    edit_credit = recorded["value"] if recorded else AgreementScoring.edit_credit
    report = review_report(_warehouse(), _source_folder("review"), edit_credit)
    print(report.text)
    return 0 if report.has_agreement else 1


def cmd_doctor(args: argparse.Namespace) -> int:
    from synth_assets.doctor import run_doctor

    return run_doctor()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synth", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="materialize the graph: every seed batch, then the corpus, mix and export")
    run.add_argument("--select", help="comma-separated asset names, e.g. seeds,evolved_instructions")
    run.add_argument("--batch", help="comma-separated seed batches (seed file names without .jsonl) to run; "
                     "the others keep their rows. Default: every batch")
    run.add_argument("--skip-batches", action="store_true",
                     help="run only what unions the batches (after `synth merge` of batches made elsewhere)")
    run.add_argument("--parallel", type=int, default=1, metavar="N",
                     help="run up to N seed batches at once, each in a process of its own (the ducklake warehouse "
                     "only, docs/scaling.md). Default: 1")
    run.add_argument("--verbose", action="store_true",
                     help="print the Dagster log on the console (it always goes to data/logs/) and tracebacks of failed steps")
    run.set_defaults(func=cmd_run)
    merge = commands.add_parser("merge", help="import the seed batches of old DuckDB warehouse files into the "
                                "DuckLake warehouse, once (docs/scaling.md)")
    merge.add_argument("warehouses", nargs="+", help="the old warehouse files (synth.duckdb)")
    merge.set_defaults(func=cmd_merge)
    ui = commands.add_parser("ui", help="start the Dagster UI on this project")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    trace = commands.add_parser("trace", help="follow a row back to its seed with every decision")
    trace.add_argument("row_id")
    trace.add_argument("--json", action="store_true", help="print the chain as JSON")
    trace.add_argument("--why-dropped", action="store_true", help="say which stage and rule dropped the row")
    trace.set_defaults(func=cmd_trace)
    stats = commands.add_parser("stats", help="rows, the mix and rejection reasons per stage")
    stats.add_argument("--quick", action="store_true",
                       help="skip reading every block of the warehouse to check it (a full scan, 300-500 MB/s)")
    stats.set_defaults(func=cmd_stats)
    salvage = commands.add_parser("salvage-cache", help="copy the readable teacher responses of a damaged "
                                  "warehouse file into the warehouse, before rebuilding it")
    salvage.add_argument("damaged", help="the damaged file, moved aside (e.g. data/warehouse/synth.duckdb.corrupt)")
    salvage.set_defaults(func=cmd_salvage_cache)
    review = commands.add_parser("review", help="how often reviewers agreed with the automatic gates")
    review.set_defaults(func=cmd_review)
    doctor = commands.add_parser("doctor", help="which isolation the code sandbox gets on this machine, and why")
    doctor.set_defaults(func=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    from resources.warehouse import WarehouseError

    args = build_parser().parse_args(argv)
    _enter_project()
    try:
        return args.func(args)
    except WarehouseError as exc:  # a damaged or unreadable warehouse: the message says what to do
        print(f"synth {args.command}: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
