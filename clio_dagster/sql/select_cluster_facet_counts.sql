-- Facet values per base cluster with their distinct-user counts (small values are pooled in Python).
SELECT m.cluster_id, 'language' AS facet, f.language AS value,
       count(*)::INTEGER AS conversations, count(DISTINCT f.user_hash)::INTEGER AS users
FROM base_cluster_members AS m
JOIN facets AS f USING (partition_date, conversation_id)
WHERE m.partition_date = $day
GROUP BY ALL
UNION ALL
SELECT m.cluster_id, 'turns' AS facet,
       CASE WHEN f.n_turns <= 2 THEN '1-2' WHEN f.n_turns <= 4 THEN '3-4' WHEN f.n_turns <= 8 THEN '5-8' ELSE '9+' END,
       count(*)::INTEGER, count(DISTINCT f.user_hash)::INTEGER
FROM base_cluster_members AS m
JOIN facets AS f USING (partition_date, conversation_id)
WHERE m.partition_date = $day
GROUP BY ALL
ORDER BY 1, 2, 3;
