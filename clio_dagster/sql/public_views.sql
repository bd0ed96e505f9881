-- Views over the public topic tables, (re)created with the schema on every public connection that writes,
-- so a changed definition reaches existing files.
CREATE OR REPLACE VIEW topic_trends AS
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
    d.baseline_share,
    d.partition_date = t.first_seen AS is_first_day,
    e.reason AS emerging_reason
FROM topic_days AS d
JOIN topics AS t USING (topic_id)
LEFT JOIN emerging_topics AS e ON e.topic_id = d.topic_id AND e.partition_date = d.partition_date;
-- Concern per published cluster and level: the mean and the distribution of the `concerning` facet (1-5);
-- scores used by fewer than min_unique_users users are pooled (concern_pooled), as in cluster_facets.
CREATE OR REPLACE VIEW cluster_concern AS
SELECT
    c.partition_date,
    c.cluster_id,
    c.level,
    c.parent_id,
    c.name,
    c.conversations,
    c.share,
    c.heuristic,
    c.concerning_mean,
    coalesce(sum(f.conversations), 0) AS concern_scored,
    coalesce(sum(f.conversations) FILTER (WHERE f.value = '1'), 0) AS concern_1,
    coalesce(sum(f.conversations) FILTER (WHERE f.value = '2'), 0) AS concern_2,
    coalesce(sum(f.conversations) FILTER (WHERE f.value = '3'), 0) AS concern_3,
    coalesce(sum(f.conversations) FILTER (WHERE f.value = '4'), 0) AS concern_4,
    coalesce(sum(f.conversations) FILTER (WHERE f.value = '5'), 0) AS concern_5,
    coalesce(sum(f.conversations) FILTER (WHERE f.value NOT IN ('1', '2', '3', '4', '5')), 0) AS concern_pooled
FROM published_clusters AS c
LEFT JOIN cluster_facets AS f
    ON f.partition_date = c.partition_date AND f.cluster_id = c.cluster_id AND f.facet = 'concerning'
GROUP BY c.partition_date, c.cluster_id, c.level, c.parent_id, c.name, c.conversations, c.share, c.heuristic,
    c.concerning_mean;
