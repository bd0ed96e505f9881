"""`clio`: the product without the Dagster UI (demo, ingest, run a date range, show results)."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from clio_dagster.settings import ClioSettings, SettingsError, load_settings


from clio_dagster.runner import QUIET_RUN_CONFIG, _dates, _instance, run_partitions  # noqa: F401  (scripts import them here)


@contextmanager
def public_db_read_lock(settings: ClioSettings) -> Iterator[None]:
    """The lock the pipeline's writers take on the local public DB (a lake needs none)."""
    if settings.storage == "ducklake":
        yield
        return
    from clio_dagster.storage import writers_paused

    with writers_paused(settings.public_db, settings.lock_timeout_s):
        yield


def show(settings: ClioSettings, day: date | None, out=None) -> int:
    out = out or sys.stdout
    if settings.storage == "duckdb" and not settings.public_db.exists():
        print(f"No public DB at {settings.public_db} yet: run `clio demo` or `clio run` first.", file=out)
        return 1
    with public_db_read_lock(settings):
        return _print_public(settings, day, out)


def _print_public(settings: ClioSettings, day: date | None, out) -> int:
    from clio_dagster.explorer.render import custom_facet_questions, open_public

    con = open_public(settings)
    try:
        days = [r[0] for r in con.execute(
            "SELECT partition_date FROM partition_summaries WHERE ? IS NULL OR partition_date = ? ORDER BY 1",
            [day, day],
        ).fetchall()]
        for d in days:
            total, published, suppressed_users, suppressed_convs, backend = con.execute(
                "SELECT conversations, clusters_published, suppressed_min_users, suppressed_min_conversations, "
                "llm_backend FROM partition_summaries WHERE partition_date = ?",
                [d],
            ).fetchone()
            label = " (heuristic offline names)" if backend == "offline" else ""
            print(f"\n{d}: {total} conversations, {published} clusters published{label}; suppressed: "
                  f"{suppressed_users} below min users, {suppressed_convs} below min conversations", file=out)
            rows = con.execute(
                "SELECT cluster_id, parent_id, name, conversations, unique_users, share FROM published_clusters "
                "WHERE partition_date = ? ORDER BY conversations DESC, cluster_id",
                [d],
            ).fetchall()
            children: dict[str | None, list[tuple]] = {}
            for row in rows:
                children.setdefault(row[1], []).append(row)
            questions = custom_facet_questions(con, d)
            breakdowns = _custom_breakdowns(con, d, [q["facet"] for q in questions])
            for q in questions:
                print(f"  custom facet {q['facet']} ({q['type']}): {q['question']}", file=out)

            def walk(parent: str | None, depth: int) -> None:
                for cid, _, name, n, users, share in children.get(parent, []):
                    print(f"  {'    ' * depth}{cid}  {n:5d} conv  {users:5d} users  {share:6.1%}  {name}", file=out)
                    for facet, values in breakdowns.get(cid, {}).items():
                        print(f"  {'    ' * depth}        {facet}: {values}", file=out)
                    walk(cid, depth + 1)

            walk(None, 0)
            shares = con.execute("SELECT generic_share_by_level FROM partition_summaries WHERE partition_date = ?",
                                 [d]).fetchone()[0]
            if shares:
                print("  conversations under a generic name: "
                      + ", ".join(f"level {level} {share:.1%}" for level, share in enumerate(shares)), file=out)
    finally:
        con.close()
    return 0


def _custom_breakdowns(con, day: date, facets: list[str]) -> dict[str, dict[str, str]]:
    """cluster id → custom facet → "value conversations (share), …" (largest first; rare values already pooled)."""
    rows = con.execute("SELECT cluster_id, facet, value, conversations FROM cluster_facets WHERE partition_date = ? "
                       "AND list_contains(?, facet) ORDER BY cluster_id, facet, conversations DESC, value",
                       [day, facets]).fetchall()
    counts: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for cluster_id, facet, value, n in rows:
        counts.setdefault((cluster_id, facet), []).append((value, n))
    out: dict[str, dict[str, str]] = {}
    for (cluster_id, facet), values in counts.items():
        total = sum(n for _, n in values)
        out.setdefault(cluster_id, {})[facet] = ", ".join(f"{v} {n} ({n / total:.0%})" for v, n in values)
    return out


def _period(text: str) -> tuple[date, date]:
    """`YYYY-MM-DD..YYYY-MM-DD` (inclusive) for argparse."""
    from clio_dagster.explorer.compare import parse_period

    try:
        return parse_period(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_compare(settings: ClioSettings, before: tuple[date, date], after: tuple[date, date], factor: float,
                out=None) -> bool:
    """Materialise topic_changes for two windows in this process and print its Markdown report."""
    out = out or sys.stdout
    import dagster as dg

    from clio_dagster.assets import topic_changes
    from clio_dagster.resources import build_resources

    windows = {"before": f"{before[0]}..{before[1]}", "after": f"{after[0]}..{after[1]}", "factor": factor}
    result = dg.materialize([topic_changes], resources=build_resources(settings), instance=_instance(),
                            raise_on_error=False,
                            run_config={**QUIET_RUN_CONFIG, "ops": {"topic_changes": {"config": windows}}})
    if not result.success:
        print("topic_changes: FAILED", file=out)
        return False
    meta = result.asset_materializations_for_node("topic_changes")[0].metadata
    print(meta["report"].value, file=out)
    print(f"\nWritten to {meta['markdown'].value} and {meta['page'].value} (linked from the explorer index)", file=out)
    return True


def _cmd_compare(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.public_db.exists():
        print(f"No public DB at {settings.public_db} yet: run `clio demo` or `clio run` first.")
        return 1
    return 0 if run_compare(settings, args.before, args.after, args.factor) else 1


def run_topics(settings: ClioSettings, out=None) -> bool:
    """Materialise topic_registry (every published day) in this process."""
    out = out or sys.stdout
    import dagster as dg

    from clio_dagster.assets import topic_registry
    from clio_dagster.resources import build_resources

    result = dg.materialize([topic_registry], resources=build_resources(settings), instance=_instance(),
                            raise_on_error=False, run_config=QUIET_RUN_CONFIG)
    if not result.success:
        print("topic_registry: FAILED", file=out)
        return False
    meta = result.asset_materializations_for_node("topic_registry")[0].metadata
    print(f"topic_registry: ok, {meta['topics'].value} topics over {meta['days'].value} day(s), "
          f"{meta['emerging'].value} emerging topic record(s)", file=out)
    for check in result.get_asset_check_evaluations():
        for line in check.metadata["emerging"].value if not check.passed else []:
            print(f"  emerging: {line}", file=out)
    return True


def _cmd_topics(args: argparse.Namespace) -> int:
    return 0 if run_topics(load_settings()) else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    from clio_dagster.sample_data import stage_sample

    os.environ["CLIO_DEMO_MODE"] = "1"
    settings = load_settings(**({"home": args.home} if args.home else {}), demo_mode=True)
    staged = stage_sample(settings.landing_dir)
    print(f"Staged the bundled sample ({sum(staged.values())} conversations) into {settings.landing_dir}")
    print(f"LLM backend: {settings.preset} "
          + ("(heuristic, no network)" if not settings.uses_llm else f"({describe_routes(settings)})"))
    days = sorted(date.fromisoformat(d) for d in staged)
    ok = run_partitions(settings, days) and run_topics(settings)
    show(settings, None)
    if settings.storage == "ducklake":
        from clio_dagster.lake import lake_location

        print(f"\nPublic lake: {lake_location(settings, 'public').describe()}\n"
              f"Private lake: {lake_location(settings, 'private').describe()} (its own credentials; never share them)")
    else:
        print(f"\nPublic DB: {settings.public_db}\nPrivate DB: {settings.private_db} (owner-only; never share it)")
    return 0 if ok else 1


def _cmd_run(args: argparse.Namespace) -> int:
    from clio_dagster.cli_safety import targeted_settings

    settings = targeted_settings(args)
    if settings.namespace:
        print(f"Namespace {settings.namespace}: results in {settings.output_dir}")
    ok = run_partitions(settings, _dates(args.start, args.end))
    # The topic registry spans every published day: refresh it so trends and emerging topics follow the run.
    if ok and not settings.safety_mode:
        ok = run_topics(settings)
    return 0 if ok else 1


def _cmd_ingest(args: argparse.Namespace) -> int:
    settings = load_settings()
    source = Path(args.file)
    if not source.is_file():
        raise SettingsError(f"{source} is not a file.")
    if source.suffix.lower() not in (".jsonl", ".json", ".parquet"):
        raise SettingsError(f"{source}: landing files must be .jsonl, .json or .parquet.")
    target_dir = settings.landing_dir / args.date.isoformat()
    target_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target_dir / source.name)
    print(f"Copied {source.name} to {target_dir}; run `clio run --start {args.date} --end {args.date}`.")
    return 0


def _conversations_by_day(settings: ClioSettings, days: list[date], use_sample: bool) -> dict[date, list]:
    from clio_dagster.core.ingest import Accepted, IngestLimits, iter_landing_file
    from clio_dagster.core.landing import collect_partition
    from clio_dagster.sample_data import sample_path

    limits = IngestLimits(settings.max_message_chars, settings.max_conversation_chars)
    if use_sample:
        grouped: dict[date, list] = {}
        for item in iter_landing_file(sample_path(), limits):
            if isinstance(item, Accepted):
                grouped.setdefault(item.conversation.timestamp.date(), []).append(item.conversation)
        return dict(sorted(grouped.items()))
    return {
        day: [a.conversation for a in collect_partition(settings.landing_dir, day, settings.landing_lookaround_days, limits).accepted]
        for day in days
    }


def estimate_stages(settings: ClioSettings, by_day: dict[date, list]) -> list:
    """`clio estimate`'s rows: each stage's calls, tokens and dollars under the settings' routes (offline stages:
    none), from the real prompts, the k rule and the hierarchy's level sizes."""
    from clio_dagster.llm.estimate import estimate_run
    from clio_dagster.resources import build_resources

    llm = build_resources(settings)["llm"]
    routes = llm.routes()
    claude = llm.claude_settings()
    models, prices = dict(claude.models), dict(claude.prices)
    if any(route.backend == "openai_compatible" for route in routes.values()):
        local = llm.openai_settings()
        models.update({t: local.models[t] for t, route in routes.items() if route.backend == "openai_compatible"})
        prices.update(local.prices)
    return estimate_run(
        list(by_day.values()), models, prices, claude.conversation_token_budget,
        settings.target_cluster_size, settings.k_min, settings.k_max, levels=settings.hierarchy_levels,
        top_clusters=settings.hierarchy_top, naming_sample_size=settings.naming_sample_size,
        screen_question=settings.screen_question, custom_facets=settings.custom_facets,
        llm_tasks={task for task, route in routes.items() if route.backend != "offline"},
    )


def _cmd_estimate(args: argparse.Namespace) -> int:
    settings = load_settings(**({"llm_preset": args.preset} if args.preset else {}))
    if not args.preset and not settings.uses_llm:  # nothing to price: show what the claude preset would cost
        settings = load_settings(llm_preset="claude", llm_tasks={})
    if not args.sample and not (args.start and args.end):
        raise SettingsError("give --start and --end (landing folders), or --sample for the bundled sample.")
    days = [] if args.sample else _dates(args.start, args.end)
    by_day = _conversations_by_day(settings, days, args.sample)
    estimates = estimate_stages(settings, by_day)
    n = sum(len(v) for v in by_day.values())
    print(f"Estimate for {n} conversations in {len(by_day)} day(s), preset {settings.preset} "
          f"({describe_routes(settings)}); ~4 characters per token, prices per million tokens from the configured "
          "price tables:")
    print(f"{'stage':32} {'model':20} {'calls':>7} {'input tok':>11} {'output tok':>11} {'interactive $':>14} {'batch $':>9}")
    for e in estimates:
        print(f"{e.stage:32} {e.model:20} {e.calls:7d} {e.input_tokens:11d} {e.output_tokens:11d} "
              f"{e.cost_interactive:14.4f} {e.cost_batch:9.4f}")
    total_i = sum(e.cost_interactive for e in estimates)
    total_b = sum(e.cost_batch for e in estimates)
    print(f"{'total':32} {'':20} {sum(e.calls for e in estimates):7d} {sum(e.input_tokens for e in estimates):11d} "
          f"{sum(e.output_tokens for e in estimates):11d} {total_i:14.4f} {total_b:9.4f}")
    if n:
        print(f"per 1,000 conversations: ${1000 * total_i / n:.3f} interactive, ${1000 * total_b / n:.3f} batch")
    return 0


def describe_routes(settings: ClioSettings) -> str:
    from clio_dagster.core.task_routing import route_summary
    from clio_dagster.resources import resolved_routes

    return route_summary(resolved_routes(settings))


def _cmd_show(args: argparse.Namespace) -> int:
    from clio_dagster.cli_safety import targeted_settings

    return show(targeted_settings(args), args.date)


def _cmd_explore(args: argparse.Namespace) -> int:
    from clio_dagster.explorer.serve import build_missing, make_server

    from clio_dagster.cli_safety import targeted_settings

    from clio_dagster.lake import public_source

    settings = targeted_settings(args)
    if settings.storage == "duckdb" and not settings.public_db.exists():
        print(f"No public DB at {settings.public_db} yet: run `clio demo` or `clio run` first.")
        return 1
    with public_db_read_lock(settings):
        written = build_missing(public_source(settings), settings.explorer_dir, rebuild=args.rebuild,
                                concern_floor=settings.concern_floor)
    print(f"Explorer pages in {settings.explorer_dir}: {len(written) - 1} partition page(s) written, index rebuilt.")
    try:
        server = make_server(settings.explorer_dir, args.port)
    except OSError as exc:
        raise SettingsError(f"Cannot listen on 127.0.0.1:{args.port} ({exc.strerror}); pick another --port.") from None
    print(f"Serving the explorer at http://127.0.0.1:{server.server_address[1]}/index.html (Ctrl-C to stop)",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nStopped.")
    finally:
        server.server_close()
    return 0


def add_quiet_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars or lines while stages run (results and errors still print)")


def _progress_output(args: argparse.Namespace):
    """Commands that take --quiet run long stages in this process: their progress goes to stderr, a live bar
    per stage on a terminal, else a line every CLIO_PROGRESS_EVERY seconds (stdout keeps only results)."""
    from contextlib import nullcontext

    from clio_dagster.core.progress import terminal

    return terminal(quiet=args.quiet) if hasattr(args, "quiet") else nullcontext()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clio", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="stage the bundled sample and materialise every sample partition offline")
    demo.add_argument("--home", help="CLIO_HOME to use (default: $CLIO_HOME or ./.clio)")
    add_quiet_argument(demo)
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser("run", help="materialise every daily asset for a date range (inclusive), in order")
    run.add_argument("--start", type=date.fromisoformat, required=True)
    run.add_argument("--end", type=date.fromisoformat, required=True)
    from clio_dagster.cli_safety import add_target_arguments, register as register_safety

    add_target_arguments(run)
    add_quiet_argument(run)
    run.set_defaults(func=_cmd_run)

    ingest = sub.add_parser("ingest", help="copy a .jsonl/.json/.parquet file into the landing folder of a day")
    ingest.add_argument("file")
    ingest.add_argument("--date", type=date.fromisoformat, required=True)
    ingest.set_defaults(func=_cmd_ingest)

    estimate = sub.add_parser("estimate", help="predict the LLM calls, tokens and dollars of a run over a date range")
    estimate.add_argument("--start", type=date.fromisoformat)
    estimate.add_argument("--end", type=date.fromisoformat)
    estimate.add_argument("--sample", action="store_true", help="estimate for the bundled sample")
    estimate.add_argument("--preset", choices=["offline", "claude", "claude-names", "local"],
                          help="price this preset instead of the configured backends (CLIO_LLM_TASKS still applies)")
    estimate.set_defaults(func=_cmd_estimate)

    show_cmd = sub.add_parser("show", help="print the published clusters from the public DB")
    show_cmd.add_argument("--date", type=date.fromisoformat)
    add_target_arguments(show_cmd, screener=False)
    show_cmd.set_defaults(func=_cmd_show)

    compare = sub.add_parser("compare", help="topics that appear, vanish, grow or shrink between two periods")
    compare.add_argument("--before", type=_period, required=True, help="YYYY-MM-DD..YYYY-MM-DD (inclusive)")
    compare.add_argument("--after", type=_period, required=True, help="YYYY-MM-DD..YYYY-MM-DD (inclusive)")
    compare.add_argument("--factor", type=float, default=1.5, help="mean share ratio counted as growth (default 1.5)")
    compare.set_defaults(func=_cmd_compare)

    topics = sub.add_parser("topics", help="rebuild the topic registry, trends and emerging topics from every day")
    topics.set_defaults(func=_cmd_topics)

    explore = sub.add_parser("explore", help="build missing explorer pages from the public DB and serve them on 127.0.0.1")
    explore.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0: any free port)")
    explore.add_argument("--rebuild", action="store_true", help="rebuild every partition's page, not only missing ones")
    add_target_arguments(explore, screener=False)
    explore.set_defaults(func=_cmd_explore)
    register_safety(sub)
    from clio_dagster.cli_scale import register as register_scale

    register_scale(sub)

    from clio_dagster.evaluation.commands import register as register_evaluations

    register_evaluations(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None and hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `clio show | head` ends quietly
    args = build_parser().parse_args(argv)
    try:
        with _progress_output(args):
            return args.func(args)
    except SettingsError as exc:
        print(f"clio: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from clio_dagster.storage import WarehouseError

        if not isinstance(exc, WarehouseError):
            raise
        print(f"clio: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
