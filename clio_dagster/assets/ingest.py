"""raw_conversations: landing files → validated conversations (private) + quarantine."""


import json
from collections import Counter
from pathlib import Path

import dagster as dg
import pyarrow as pa

from clio_dagster.assets.daily import daily_asset
from clio_dagster.core.hashing import anonymous_user_key, hash_user_id
from clio_dagster.core.landing import collect_partition, landing_data_version
from clio_dagster.resources import PipelineConfig, WarehouseResource, partition_date
from clio_dagster.storage import load_sql, replace_partition, transaction

ROW_CONSERVATION = "row_conservation"

_MESSAGES_TYPE = pa.list_(pa.struct([("role", pa.string()), ("text", pa.string())]))


@daily_asset(
    group_name="ingest",
    check_specs=[
        dg.AssetCheckSpec(
            ROW_CONSERVATION,
            asset="raw_conversations",
            blocking=True,
            description="Every landing record of the day is either accepted or quarantined (in = accepted + quarantined).",
        )
    ],
)
def raw_conversations(
    context: dg.AssetExecutionContext, pipeline: PipelineConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Landing files of the day (`<landing>/<YYYY-MM-DD>/*.jsonl|*.json|*.parquet`) validated into
    conversations; user ids stored only as keyed hashes; every reject quarantined with its location and reason."""
    day = partition_date(context)
    secret = pipeline.user_id_secret()
    # Before reading: a file that lands during the read makes the next run see a new version.
    data_version = landing_data_version(Path(pipeline.landing_dir), day, pipeline.landing_lookaround_days)
    found = collect_partition(
        Path(pipeline.landing_dir), day, pipeline.landing_lookaround_days, pipeline.ingest_limits()
    )

    accepted_rows = {
        "partition_date": [day] * len(found.accepted),
        "conversation_id": [],
        "user_hash": [],
        "conversation_ts": [],
        "messages": [],
        "metadata": [],
        "source_file": [],
        "source_line": [],
    }
    for item in found.accepted:
        conversation = item.conversation
        accepted_rows["conversation_id"].append(conversation.conversation_id)
        accepted_rows["user_hash"].append(
            hash_user_id(secret, conversation.user_id)
            if conversation.user_id
            else anonymous_user_key(secret, conversation.conversation_id)
        )
        ts = conversation.timestamp
        accepted_rows["conversation_ts"].append(ts.replace(tzinfo=None) if ts else None)
        accepted_rows["messages"].append([{"role": m.role, "text": m.text} for m in conversation.messages])
        accepted_rows["metadata"].append(json.dumps(conversation.metadata, sort_keys=True, default=str))
        accepted_rows["source_file"].append(item.location.file)
        accepted_rows["source_line"].append(item.location.line)
    accepted = pa.table(
        accepted_rows,
        schema=pa.schema(
            [
                ("partition_date", pa.date32()),
                ("conversation_id", pa.string()),
                ("user_hash", pa.string()),
                ("conversation_ts", pa.timestamp("us")),
                ("messages", _MESSAGES_TYPE),
                ("metadata", pa.string()),
                ("source_file", pa.string()),
                ("source_line", pa.int32()),
            ]
        ),
    )
    quarantined = pa.table(
        {
            "partition_date": pa.array([day] * len(found.rejected), pa.date32()),
            "source_file": [r.location.file for r in found.rejected],
            "source_line": pa.array([r.location.line for r in found.rejected], pa.int32()),
            "record_id": [r.record_id for r in found.rejected],
            "reason": [str(r.reason) for r in found.rejected],
            "detail": [r.detail for r in found.rejected],
        }
    )
    stats = pa.table(
        {
            "partition_date": pa.array([day], pa.date32()),
            "records_in": [found.records_in],
            "accepted": [len(found.accepted)],
            "quarantined": [len(found.rejected)],
            "files_read": [found.files_read],
        }
    )

    with warehouse.get().connect("private") as con, transaction(con):
        replace_partition(con, "raw_conversations", day, accepted)
        replace_partition(con, "quarantine", day, quarantined)
        replace_partition(con, "ingest_stats", day, stats)
        records_in, n_accepted, n_quarantined = con.execute(
            load_sql("ingest_conservation.sql"), {"day": day}
        ).fetchone()

    reasons = Counter(str(r.reason) for r in found.rejected)
    conserved = records_in == n_accepted + n_quarantined
    return dg.MaterializeResult(
        data_version=dg.DataVersion(data_version),
        metadata={
            "dagster/row_count": n_accepted,
            "records_in": records_in,
            "quarantined": n_quarantined,
            "quarantine_reasons": dict(sorted(reasons.items())),
            "files_read": found.files_read,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=ROW_CONSERVATION,
                passed=bool(conserved),
                metadata={"records_in": records_in, "accepted": n_accepted, "quarantined": n_quarantined},
            )
        ],
    )
