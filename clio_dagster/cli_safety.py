"""Trust-and-safety commands of `clio`: targeted runs into a namespace, `clio concern`, `clio safety run|report`."""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import date

from clio_dagster.settings import ClioSettings, SettingsError, load_settings


def add_target_arguments(parser: argparse.ArgumentParser, screener: bool = True) -> None:
    parser.add_argument("--namespace", help="write to / read from CLIO_HOME/namespaces/NAME instead of the daily "
                                            "results (a targeted run around an event)")
    if screener:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--screen-regex", help="keep only conversations whose user turns match (needs --namespace)")
        group.add_argument("--screen-question", help="keep only conversations the LLM answers yes to (claude; needs "
                                                     "--namespace)")


def targeted_settings(args: argparse.Namespace) -> ClioSettings:
    """Settings with the command's --namespace and screener; a screened run must have its own namespace so
    it never overwrites the general daily results."""
    overrides = {key: getattr(args, key) for key in ("namespace", "screen_regex", "screen_question")
                 if getattr(args, key, None)}
    if ("screen_regex" in overrides or "screen_question" in overrides) and "namespace" not in overrides:
        raise SettingsError("a targeted run (--screen-regex / --screen-question) needs --namespace NAME, so it "
                            "writes to CLIO_HOME/namespaces/NAME and leaves the daily results untouched.")
    return load_settings(**overrides)


# ------------------------------------------------------------------------------------------------- clio concern


def concerning_clusters(settings: ClioSettings, day: date | None, floor: float) -> list[tuple]:
    """(date, level, cluster_id, mean, conversations, share, scores 1-5, pooled, name) from the public DB."""
    from clio_dagster.explorer.render import open_public

    con = open_public(settings)
    try:
        return con.execute(
            "SELECT partition_date, level, cluster_id, concerning_mean, conversations, share, concern_1, concern_2, "
            "concern_3, concern_4, concern_5, concern_pooled, name FROM cluster_concern "
            "WHERE (? IS NULL OR partition_date = ?) AND concerning_mean >= ? "
            "ORDER BY partition_date, concerning_mean DESC, level DESC, cluster_id", [day, day, floor]).fetchall()
    finally:
        con.close()


def _cmd_concern(args: argparse.Namespace, out=None) -> int:
    out = out or sys.stdout
    settings = targeted_settings(args)
    if not settings.public_db.exists():
        print(f"No public DB at {settings.public_db} yet: run `clio demo` or `clio run` first.", file=out)
        return 1
    floor = settings.concern_floor if args.floor is None else args.floor
    rows = concerning_clusters(settings, args.date, floor)
    print(f"Published clusters with mean concern >= {floor:g} (1 harmless ... 5 extremely concerning); "
          "distribution = conversations scored 1/2/3/4/5 (+ pooled rare scores):", file=out)
    if not rows:
        print("  none", file=out)
    for d, level, cid, mean, n, share, *dist, name in rows:
        counts = "/".join(str(v) for v in dist[:5]) + (f" (+{dist[5]} pooled)" if dist[5] else "")
        print(f"{d}  L{level}  {cid}  mean {mean:.2f}  {n:5d} conv  {share:6.1%}  [{counts}]  {name}", file=out)
    return 0


# ------------------------------------------------------------------------------------------------- clio safety


def _authorised_or_exit(settings: ClioSettings, out) -> bool:
    from clio_dagster.core.safety_mode import check_safety_mode, refusal

    run = check_safety_mode(settings.safety_mode)
    if not run.authorised:
        print(f"clio: {refusal(run)}", file=out)
    return run.authorised


def _safety_line(result) -> str:
    counts = {}
    for name in ("safety_clusters", "coordinated_use", "coordinated_campaigns"):
        events = result.asset_materializations_for_node(name)
        counts[name] = events[0].metadata if events else {}

    def count(asset: str, key: str) -> int:
        value = counts[asset].get(key)
        return value.value if value else 0

    return (f"{count('safety_clusters', 'dagster/row_count')} clusters (thresholds off), "
            f"{count('coordinated_use', 'near_duplicate_groups')} near-identical request groups, "
            f"{count('coordinated_use', 'few_account_clusters')} few-account clusters, "
            f"{count('coordinated_campaigns', 'campaigns')} campaigns in the window (private DB only)")


def _cmd_safety_run(args: argparse.Namespace, out=None) -> int:
    from clio_dagster.assets import safety_job_assets, safety_mode_assets
    from clio_dagster.runner import _dates, run_partitions

    out = out or sys.stdout
    settings = targeted_settings(args)
    if not _authorised_or_exit(settings, out):
        return 2
    # In a namespace the whole chain up to the hierarchy runs there; otherwise the safety assets read the
    # daily run's private tables of the same days.
    assets = (safety_job_assets if settings.namespace else safety_mode_assets)(settings.campaign_window_days)
    ok = run_partitions(settings, _dates(args.start, args.end), out=out, assets=assets, describe=_safety_line)
    print(f"Private DB: {settings.private_db}; read with `clio safety report --date D`"
          + (f" --namespace {settings.namespace}" if settings.namespace else ""), file=out)
    return 0 if ok else 1


def _table(header: list[str], rows: list[list]) -> list[str]:
    if not rows:
        return ["None.", ""]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v).replace("|", "/").replace("\n", " ") for v in row) + " |" for row in rows]
    return [*lines, ""]


def safety_report(settings: ClioSettings, day: date, top: int = 20) -> str:
    """Markdown of one day's safety-mode results (private: account hashes included, for authorised review)."""
    from clio_dagster.lake import warehouse_for
    from clio_dagster.storage import load_sql

    store = warehouse_for(settings)
    with store.connect("private") as con:
        con.execute(load_sql("safety_schema.sql"))
        groups = con.execute(
            "SELECT group_id, accounts, conversations, round(min_similarity, 3), round(concerning_mean, 2), "
            "base_clusters, example_request, account_hashes FROM coordinated_groups WHERE partition_date = ? "
            "ORDER BY group_id", [day]).fetchall()
        few = con.execute(
            "SELECT node_id, name, conversations, accounts, round(accounts_ratio, 3), round(top_account_share, 2), "
            "round(concerning_mean, 2) FROM coordinated_clusters WHERE partition_date = ? "
            "ORDER BY accounts_ratio, node_id", [day]).fetchall()
        clusters = con.execute(
            "SELECT level, node_id, name, conversations, accounts, round(concerning_mean, 2), meets_thresholds "
            "FROM safety_clusters WHERE partition_date = ? AND concerning_mean IS NOT NULL "
            "ORDER BY concerning_mean DESC, level DESC, node_id LIMIT ?", [day, top]).fetchall()
        campaigns = con.execute(
            "SELECT campaign_id, window_start, accounts, conversations, variants, round(concerning_mean, 2), template, "
            "base_clusters, near_duplicate_groups, account_hashes FROM coordinated_campaigns WHERE partition_date = ? "
            "ORDER BY accounts DESC, conversations DESC, campaign_id", [day]).fetchall()
        per_day = con.execute("SELECT campaign_id, day, conversations, accounts FROM campaign_days "
                              "WHERE partition_date = ? ORDER BY campaign_id, day", [day]).fetchall()
    days_of: dict[str, list[str]] = {}
    for campaign_id, d, n, accounts in per_day:
        days_of.setdefault(campaign_id, []).append(f"{d:%m-%d}: {n} ({accounts} acc.)")
    window = f"{campaigns[0][1]} to {day}" if campaigns else f"ending {day}"
    lines = [f"# Safety review {day}" + (f" (namespace {settings.namespace})" if settings.namespace else ""), "",
             "PRIVATE: thresholds and auditor off, results linked to accounts (keyed hashes). Authorised "
             "trust-and-safety review only; never publish.", "",
             f"## Campaigns: many accounts, one template ({len(campaigns)}, window {window})", ""]
    lines += _table(["campaign", "accounts", "conversations", "wordings", "mean concern", "conversations per day",
                     "template ({…} = varying part)", "base clusters", "near-identical groups"],
                    [[c[0], c[2], c[3], c[4], c[5], "; ".join(days_of.get(c[0], [])), c[6], ", ".join(c[7]),
                      ", ".join(c[8])] for c in campaigns])
    for c in campaigns:
        lines += [f"- {c[0]} accounts: " + ", ".join(c[9])]
    lines += ["", f"## Near-identical requests across accounts ({len(groups)} groups)", ""]
    lines += _table(["group", "accounts", "conversations", "min similarity", "mean concern", "base clusters",
                     "example request"], [list(g[:5]) + [", ".join(g[5]), g[6]] for g in groups])
    for g in groups:
        lines += [f"- {g[0]} accounts: " + ", ".join(g[7])]
    lines += ["", f"## Clusters from few accounts for their size ({len(few)})", ""]
    lines += _table(["cluster", "name", "conversations", "accounts", "accounts/conversations", "busiest account share",
                     "mean concern"], [list(r) for r in few])
    lines += [f"## Most concerning clusters, thresholds off (top {top})", ""]
    lines += _table(["level", "cluster", "name", "conversations", "accounts", "mean concern",
                     "meets public thresholds"], [list(r) for r in clusters])
    return "\n".join(lines)


def _cmd_safety_report(args: argparse.Namespace, out=None) -> int:
    from clio_dagster.assets.safety import record_safety_run
    from clio_dagster.core.safety_mode import check_safety_mode
    from clio_dagster.lake import warehouse_for

    out = out or sys.stdout
    settings = targeted_settings(args)
    if not _authorised_or_exit(settings, out):
        return 2
    if not settings.private_db.exists():
        print(f"No private DB at {settings.private_db}: run `clio safety run` first.", file=out)
        return 1
    store = warehouse_for(settings)
    record_safety_run(store, check_safety_mode(settings.safety_mode), f"cli-{uuid.uuid4().hex[:12]}",
                      "clio safety report", args.date, settings.namespace)
    print(safety_report(settings, args.date), file=out)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    concern = sub.add_parser("concern", help="published clusters whose mean concern reaches a floor")
    concern.add_argument("--date", type=date.fromisoformat)
    concern.add_argument("--floor", type=float, help="mean concern 1-5 (default: CLIO_CONCERN_FLOOR, 2.5)")
    add_target_arguments(concern, screener=False)
    concern.set_defaults(func=_cmd_concern)

    safety = sub.add_parser("safety", help="safety mode (authorised trust-and-safety review; private DB only)")
    commands = safety.add_subparsers(dest="safety_command", required=True)
    run = commands.add_parser("run", help="every cluster without thresholds or auditor, and coordinated-use signals, "
                                          "for a date range (needs CLIO_SAFETY_MODE=1 and CLIO_SAFETY_OPERATOR)")
    run.add_argument("--start", type=date.fromisoformat, required=True)
    run.add_argument("--end", type=date.fromisoformat, required=True)
    add_target_arguments(run)
    run.set_defaults(func=_cmd_safety_run)
    report = commands.add_parser("report", help="print one day's safety-mode results (Markdown, private)")
    report.add_argument("--date", type=date.fromisoformat, required=True)
    add_target_arguments(report, screener=False)
    report.set_defaults(func=_cmd_safety_report)
