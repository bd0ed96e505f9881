-- Views over the public topic tables, created with the schema on every public connection that writes.
-- (IF NOT EXISTS: a changed definition needs `DROP VIEW ...` once, or a fresh CLIO_HOME.)
CREATE VIEW IF NOT EXISTS topic_trends AS
SELECT
    d.partition_date,
    t.topic_id,
    t.level,
    d.name,
    t.latest_name,
    d.cluster_id,
    d.conversations,
    d.unique_users,
    d.share,
    d.concerning_mean,
    d.growth,
    d.partition_date = t.first_seen AS is_first_day,
    e.reason AS emerging_reason
FROM topic_days AS d
JOIN topics AS t USING (topic_id)
LEFT JOIN emerging_topics AS e ON e.topic_id = d.topic_id AND e.partition_date = d.partition_date;
