-- Only hashes not cached yet: concurrent runs never add a second row for the same (model, text_hash).
INSERT INTO embedding_cache
SELECT n.model, n.text_hash, n.embedding::FLOAT[]
FROM new_cache AS n
WHERE NOT EXISTS (
    SELECT 1 FROM embedding_cache AS c WHERE c.model = n.model AND c.text_hash = n.text_hash
);
