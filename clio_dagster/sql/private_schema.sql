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
    backend VARCHAR NOT NULL,
    method VARCHAR NOT NULL
);
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
    method VARCHAR NOT NULL,
    backend VARCHAR NOT NULL
);
