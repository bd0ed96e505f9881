-- Safety mode (clio_dagster/assets/safety.py): PRIVATE DB only. Created by the safety assets, so these tables
-- exist only where safety mode has been asked for. Results here can be linked to accounts (keyed hashes).
-- Every safety-mode attempt, authorised or refused: who, from where, when.
CREATE TABLE IF NOT EXISTS safety_runs (
    run_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL,
    asset VARCHAR NOT NULL,
    partition_date DATE NOT NULL,
    namespace VARCHAR,
    operator VARCHAR NOT NULL,
    os_user VARCHAR NOT NULL,
    host VARCHAR NOT NULL,
    authorised BOOLEAN NOT NULL,
    reason VARCHAR NOT NULL
);
-- Every candidate cluster at every level, without the aggregation thresholds or the privacy auditor.
CREATE TABLE IF NOT EXISTS safety_clusters (
    partition_date DATE NOT NULL,
    level INTEGER NOT NULL,
    node_id VARCHAR NOT NULL,
    parent_id VARCHAR,
    name VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    conversations INTEGER NOT NULL,
    accounts INTEGER NOT NULL,
    concerning_mean DOUBLE,
    concern_1 INTEGER NOT NULL,
    concern_2 INTEGER NOT NULL,
    concern_3 INTEGER NOT NULL,
    concern_4 INTEGER NOT NULL,
    concern_5 INTEGER NOT NULL,
    meets_thresholds BOOLEAN NOT NULL
);
-- Base clusters whose conversations come from few accounts relative to their size.
CREATE TABLE IF NOT EXISTS coordinated_clusters (
    partition_date DATE NOT NULL,
    node_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    conversations INTEGER NOT NULL,
    accounts INTEGER NOT NULL,
    accounts_ratio DOUBLE NOT NULL,
    top_account_share DOUBLE NOT NULL,
    top_accounts VARCHAR[] NOT NULL,
    concerning_mean DOUBLE
);
-- Groups of accounts sending near-identical requests (summary embeddings above the similarity threshold).
CREATE TABLE IF NOT EXISTS coordinated_groups (
    partition_date DATE NOT NULL,
    group_id VARCHAR NOT NULL,
    accounts INTEGER NOT NULL,
    conversations INTEGER NOT NULL,
    min_similarity DOUBLE NOT NULL,
    mean_similarity DOUBLE NOT NULL,
    base_clusters VARCHAR[] NOT NULL,
    example_request VARCHAR NOT NULL,
    concerning_mean DOUBLE,
    account_hashes VARCHAR[] NOT NULL,
    conversation_ids VARCHAR[] NOT NULL
);
-- Campaigns: many accounts sending requests from one template (varying parts as slots), found over the
-- trailing window of days that ends at partition_date (core/campaigns.py). A campaign keeps its id from one
-- window to the next while its earliest request stays in the window.
CREATE TABLE IF NOT EXISTS coordinated_campaigns (
    partition_date DATE NOT NULL,
    campaign_id VARCHAR NOT NULL,
    window_start DATE NOT NULL,
    first_day DATE NOT NULL,
    last_day DATE NOT NULL,
    days INTEGER NOT NULL,
    accounts INTEGER NOT NULL,
    conversations INTEGER NOT NULL,
    variants INTEGER NOT NULL,
    template VARCHAR NOT NULL,
    slots INTEGER NOT NULL,
    template_words INTEGER NOT NULL,
    mean_similarity DOUBLE NOT NULL,
    concerning_mean DOUBLE,
    base_clusters VARCHAR[] NOT NULL,
    near_duplicate_groups VARCHAR[] NOT NULL,
    account_hashes VARCHAR[] NOT NULL,
    conversation_ids VARCHAR[] NOT NULL
);
-- Each campaign's conversations and accounts per day of its window: how it started, grew and stopped.
CREATE TABLE IF NOT EXISTS campaign_days (
    partition_date DATE NOT NULL,
    campaign_id VARCHAR NOT NULL,
    day DATE NOT NULL,
    conversations INTEGER NOT NULL,
    accounts INTEGER NOT NULL
);
