SELECT conversation_id, request, language_code
FROM facets
WHERE partition_date = ?
ORDER BY conversation_id;
