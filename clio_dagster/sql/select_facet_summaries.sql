SELECT conversation_id, request
FROM facets
WHERE partition_date = ?
ORDER BY conversation_id;
