-- Published rows of a partition that break a privacy threshold (must be none).
SELECT cluster_id, conversations, unique_users
FROM published_clusters
WHERE partition_date = $day AND (unique_users < $min_users OR conversations < $min_conversations)
ORDER BY cluster_id;
