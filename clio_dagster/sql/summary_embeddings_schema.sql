-- {dim} is the embedding model's dimension (an integer checked in Python), the only formatted value.
CREATE TABLE IF NOT EXISTS summary_embeddings (
    partition_date DATE NOT NULL,
    conversation_id VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    text_hash VARCHAR NOT NULL,
    embedding FLOAT[{dim}] NOT NULL
);
