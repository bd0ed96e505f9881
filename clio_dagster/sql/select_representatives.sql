-- Per base cluster, the ids of the members nearest its centroid (at most $n), for the audit table.
SELECT cluster_id, list(conversation_id ORDER BY distance, conversation_id)[1:$n] AS ids
FROM base_cluster_members
WHERE partition_date = $day
GROUP BY cluster_id
ORDER BY cluster_id;
