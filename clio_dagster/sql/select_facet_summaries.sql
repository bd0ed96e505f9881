-- The text each conversation is embedded (and clustered) by: its request summary, or with $facet (CLIO_CLUSTER_FACET)
-- its answer to that custom facet. $facet is a validated facet name ([a-z][a-z0-9_]*).
SELECT conversation_id,
       CASE WHEN $facet IS NULL THEN request
            ELSE coalesce(json_extract_string(custom_facets, '$.' || $facet), '(no answer)') END AS request,
       language_code
FROM facets
WHERE partition_date = $day
ORDER BY conversation_id;
