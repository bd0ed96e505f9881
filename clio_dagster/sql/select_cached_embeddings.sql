SELECT c.text_hash, c.embedding
FROM embedding_cache AS c
JOIN needed_hashes USING (text_hash)
WHERE c.model = ?
ORDER BY c.text_hash;
