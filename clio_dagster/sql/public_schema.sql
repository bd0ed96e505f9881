-- Public DB: only aggregates that passed the privacy layers. No conversation ids, user ids or raw text.
CREATE TABLE IF NOT EXISTS published_clusters (
    partition_date DATE NOT NULL,
    cluster_id VARCHAR NOT NULL,
    level INTEGER NOT NULL,
    parent_id VARCHAR,
    name VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    conversations INTEGER NOT NULL,
    unique_users INTEGER NOT NULL,
    share DOUBLE NOT NULL,
    mean_turns DOUBLE NOT NULL,
    concerning_mean DOUBLE,
    naming_method VARCHAR NOT NULL,
    heuristic BOOLEAN NOT NULL,
    x DOUBLE,
    y DOUBLE,
    spread DOUBLE
);
CREATE TABLE IF NOT EXISTS cluster_facets (
    partition_date DATE NOT NULL,
    cluster_id VARCHAR NOT NULL,
    facet VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    conversations INTEGER NOT NULL
);
-- The published custom facets of a partition (their breakdowns are in cluster_facets under the same name): the
-- analyst's question, never an answer.
CREATE TABLE IF NOT EXISTS facet_questions (
    partition_date DATE NOT NULL,
    facet VARCHAR NOT NULL,
    question VARCHAR NOT NULL,
    type VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS partition_summaries (
    partition_date DATE NOT NULL,
    conversations INTEGER NOT NULL,
    clusters_total INTEGER NOT NULL,
    clusters_published INTEGER NOT NULL,
    suppressed_min_users INTEGER NOT NULL,
    suppressed_min_conversations INTEGER NOT NULL,
    suppressed_audit INTEGER NOT NULL,
    published_generic_name INTEGER NOT NULL,
    conversations_in_published INTEGER NOT NULL,
    min_unique_users INTEGER NOT NULL,
    min_conversations INTEGER NOT NULL,
    llm_backend VARCHAR NOT NULL,
    embedding_model VARCHAR NOT NULL,
    generic_share_by_level DOUBLE[]
);
-- Share of each level's published conversations under a generic name, index = level (added in 0.2).
ALTER TABLE partition_summaries ADD COLUMN IF NOT EXISTS generic_share_by_level DOUBLE[];
-- Stable topics across partitions (asset topic_registry, rebuilt from every published day at once).
CREATE TABLE IF NOT EXISTS topics (
    topic_id VARCHAR NOT NULL,
    level INTEGER NOT NULL,
    first_seen DATE NOT NULL,
    last_seen DATE NOT NULL,
    days_seen INTEGER NOT NULL,
    latest_name VARCHAR NOT NULL,
    latest_description VARCHAR NOT NULL,
    names VARCHAR[] NOT NULL
);
CREATE TABLE IF NOT EXISTS topic_days (
    topic_id VARCHAR NOT NULL,
    partition_date DATE NOT NULL,
    cluster_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    conversations INTEGER NOT NULL,
    unique_users INTEGER NOT NULL,
    share DOUBLE NOT NULL,
    concerning_mean DOUBLE,
    similarity DOUBLE,
    growth DOUBLE,
    baseline_share DOUBLE
);
ALTER TABLE topic_days ADD COLUMN IF NOT EXISTS baseline_share DOUBLE;
-- Comparisons of two date windows (asset topic_changes): one row per comparison "A..B vs C..D", and the
-- topics that appear, vanish, grow or shrink in it (mean daily shares, 0 on days a topic is absent).
CREATE TABLE IF NOT EXISTS topic_comparisons (
    comparison VARCHAR NOT NULL,
    before_start DATE NOT NULL,
    before_end DATE NOT NULL,
    after_start DATE NOT NULL,
    after_end DATE NOT NULL,
    factor DOUBLE NOT NULL,
    days_before INTEGER NOT NULL,
    days_after INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS topic_changes (
    comparison VARCHAR NOT NULL,
    topic_id VARCHAR NOT NULL,
    level INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    share_before DOUBLE NOT NULL,
    share_after DOUBLE NOT NULL
);
CREATE TABLE IF NOT EXISTS emerging_topics (
    partition_date DATE NOT NULL,
    topic_id VARCHAR NOT NULL,
    level INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    share DOUBLE NOT NULL,
    growth DOUBLE
);
-- Classifier comparison (asset classifier_comparison): per published cluster, an external safety classifier's
-- flag rate against the mean concern, over the conversations carrying both (reported only when those meet the
-- privacy thresholds); and per level, the Pearson correlation over clusters.
CREATE TABLE IF NOT EXISTS cluster_classifier (
    partition_date DATE NOT NULL,
    cluster_id VARCHAR NOT NULL,
    level INTEGER NOT NULL,
    conversations_scored INTEGER NOT NULL,
    flag_rate DOUBLE NOT NULL,
    score_mean DOUBLE NOT NULL,
    concerning_mean DOUBLE NOT NULL,
    disagreement DOUBLE NOT NULL,
    verdict VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS classifier_summary (
    partition_date DATE NOT NULL,
    level INTEGER NOT NULL,
    classifier_field VARCHAR NOT NULL,
    flag_threshold DOUBLE NOT NULL,
    clusters INTEGER NOT NULL,
    conversations_scored INTEGER NOT NULL,
    pearson_r DOUBLE
);
