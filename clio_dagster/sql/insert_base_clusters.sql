-- Per-cluster statistics from the memberships just written; centroids come from the staged k-means result.
INSERT INTO base_clusters BY NAME
SELECT
    m.partition_date,
    m.cluster_id,
    count(*)::INTEGER AS conversations,
    count(DISTINCT f.user_hash)::INTEGER AS unique_users,
    avg(f.n_turns) AS mean_turns,
    avg(f.concerning) AS concerning_mean,
    $k AS k,
    any_value(c.centroid) AS centroid
FROM base_cluster_members AS m
JOIN facets AS f USING (partition_date, conversation_id)
JOIN staged_centroids AS c USING (cluster_id)
WHERE m.partition_date = $day
GROUP BY m.partition_date, m.cluster_id;
