-- Private DB: only the pipeline reads it. Every partitioned table carries partition_date.
CREATE TABLE IF NOT EXISTS raw_conversations (
    partition_date DATE NOT NULL,
    conversation_id VARCHAR NOT NULL,
    user_hash VARCHAR NOT NULL,
    conversation_ts TIMESTAMP,
    messages STRUCT(role VARCHAR, text VARCHAR)[] NOT NULL,
    metadata JSON,
    source_file VARCHAR NOT NULL,
    source_line INTEGER
);
CREATE TABLE IF NOT EXISTS quarantine (
    partition_date DATE NOT NULL,
    source_file VARCHAR NOT NULL,
    source_line INTEGER,
    record_id VARCHAR,
    reason VARCHAR NOT NULL,
    detail VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS ingest_stats (
    partition_date DATE NOT NULL,
    records_in BIGINT NOT NULL,
    accepted BIGINT NOT NULL,
    quarantined BIGINT NOT NULL,
    files_read INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS facets (
    partition_date DATE NOT NULL,
    conversation_id VARCHAR NOT NULL,
    user_hash VARCHAR NOT NULL,
    request VARCHAR NOT NULL,
    task VARCHAR,
    language VARCHAR NOT NULL,
    language_code VARCHAR NOT NULL,
    language_confidence DOUBLE,
    concerning INTEGER,
    n_turns INTEGER NOT NULL,
    n_user_turns INTEGER NOT NULL,
    user_chars BIGINT NOT NULL,
    assistant_chars BIGINT NOT NULL,
    redactions INTEGER NOT NULL,
    summary_truncated BOOLEAN NOT NULL,
    input_truncated BOOLEAN NOT NULL,
    backend VARCHAR NOT NULL,
    method VARCHAR NOT NULL
);
-- Answers to the analyst's custom facets (JSON: facet name -> answer; NULL: none), core/custom_facets.py.
ALTER TABLE facets ADD COLUMN IF NOT EXISTS custom_facets VARCHAR;
CREATE TABLE IF NOT EXISTS embedding_cache (
    model VARCHAR NOT NULL,
    text_hash VARCHAR NOT NULL,
    embedding FLOAT[] NOT NULL
);
CREATE TABLE IF NOT EXISTS base_cluster_members (
    partition_date DATE NOT NULL,
    conversation_id VARCHAR NOT NULL,
    cluster_id INTEGER NOT NULL,
    distance FLOAT NOT NULL
);
CREATE TABLE IF NOT EXISTS base_clusters (
    partition_date DATE NOT NULL,
    cluster_id INTEGER NOT NULL,
    conversations INTEGER NOT NULL,
    unique_users INTEGER NOT NULL,
    mean_turns DOUBLE NOT NULL,
    concerning_mean DOUBLE,
    k INTEGER NOT NULL,
    centroid FLOAT[] NOT NULL
);
CREATE TABLE IF NOT EXISTS cluster_names (
    partition_date DATE NOT NULL,
    cluster_id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    terms VARCHAR[] NOT NULL,
    sample_ids VARCHAR[] NOT NULL,
    method VARCHAR NOT NULL,
    backend VARCHAR NOT NULL,
    taxonomy_id VARCHAR,
    taxonomy_similarity DOUBLE,
    taxonomy_margin DOUBLE,
    taxonomy_matched BOOLEAN
);
-- Offline names: the nearest taxonomy leaf, its cosine, its margin over the median leaf and whether the name
-- uses it (added in 0.2).
ALTER TABLE cluster_names ADD COLUMN IF NOT EXISTS taxonomy_id VARCHAR;
ALTER TABLE cluster_names ADD COLUMN IF NOT EXISTS taxonomy_similarity DOUBLE;
ALTER TABLE cluster_names ADD COLUMN IF NOT EXISTS taxonomy_margin DOUBLE;
ALTER TABLE cluster_names ADD COLUMN IF NOT EXISTS taxonomy_matched BOOLEAN;
-- Candidate hierarchy (private staging): every level, base clusters included, with parent ids.
CREATE TABLE IF NOT EXISTS hierarchy_nodes (
    partition_date DATE NOT NULL,
    level INTEGER NOT NULL,
    node_id VARCHAR NOT NULL,
    parent_id VARCHAR,
    name VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    terms VARCHAR[] NOT NULL,
    conversations INTEGER NOT NULL,
    method VARCHAR NOT NULL,
    taxonomy_id VARCHAR
);
ALTER TABLE hierarchy_nodes ADD COLUMN IF NOT EXISTS taxonomy_id VARCHAR;
-- One row per candidate cluster and level: why it looks as it does and whether it was published.
CREATE TABLE IF NOT EXISTS cluster_audit (
    partition_date DATE NOT NULL,
    level INTEGER NOT NULL,
    node_id VARCHAR NOT NULL,
    sample_ids VARCHAR[] NOT NULL,
    proposed_name VARCHAR NOT NULL,
    proposed_description VARCHAR NOT NULL,
    rating INTEGER NOT NULL,
    reason VARCHAR NOT NULL,
    regenerated_name VARCHAR,
    regenerated_rating INTEGER,
    regenerated_reason VARCHAR,
    final_name VARCHAR,
    final_description VARCHAR,
    decision VARCHAR NOT NULL,
    conversations INTEGER NOT NULL,
    unique_users INTEGER NOT NULL,
    public_parent_id VARCHAR
);
-- 2-D map position of every conversation (private: only per-cluster positions are published).
CREATE TABLE IF NOT EXISTS map_points (
    partition_date DATE NOT NULL,
    conversation_id VARCHAR NOT NULL,
    x FLOAT NOT NULL,
    y FLOAT NOT NULL
);
-- LLM results keyed by content: a re-run or a resume never pays twice for a finished item.
CREATE TABLE IF NOT EXISTS llm_cache (
    task VARCHAR NOT NULL,
    prompt_version VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    input_hash VARCHAR NOT NULL,
    output JSON NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS llm_usage (
    run_id VARCHAR,
    asset VARCHAR,
    partition_date DATE,
    task VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    batch BOOLEAN NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL,
    latency_ms DOUBLE,
    cost_usd DOUBLE NOT NULL,
    outcome VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
-- Submitted Message Batches, so a process that dies between submit and collect resumes the same batch.
CREATE TABLE IF NOT EXISTS llm_batches (
    batch_id VARCHAR NOT NULL,
    task VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,
    custom_ids VARCHAR[] NOT NULL,
    status VARCHAR NOT NULL,
    submitted_at TIMESTAMP NOT NULL,
    collected_at TIMESTAMP
);
-- Items an LLM task could not answer validly after a retry (the run goes on without them).
CREATE TABLE IF NOT EXISTS llm_failures (
    partition_date DATE NOT NULL,
    task VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    detail VARCHAR NOT NULL
);
-- How far each LLM result journal (see llm/store.py) is committed, so a replay never counts usage twice.
CREATE TABLE IF NOT EXISTS llm_journal_applied (
    journal_id VARCHAR NOT NULL,
    last_seq BIGINT NOT NULL
);
-- A day summarised in shards (CLIO_DAY_SHARDS >= 2, assets/shards.py): each shard's facet rows, and one row per
-- finished shard, until the day's facets are replaced from them in one transaction (then they are deleted).
CREATE TABLE IF NOT EXISTS facet_shards AS SELECT *, 0::INTEGER AS shard FROM facets LIMIT 0;
ALTER TABLE facet_shards ADD COLUMN IF NOT EXISTS custom_facets VARCHAR;
CREATE TABLE IF NOT EXISTS facet_shard_runs (
    partition_date DATE NOT NULL,
    shard INTEGER NOT NULL,
    shards INTEGER NOT NULL,
    conversations_read BIGINT NOT NULL,
    screened_out BIGINT NOT NULL
);
