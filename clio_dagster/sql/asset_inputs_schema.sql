-- Input fingerprint of each asset's last write per partition, and the rows it wrote (assets/reuse.py).
CREATE TABLE IF NOT EXISTS asset_inputs (
    asset VARCHAR NOT NULL,
    partition_date DATE NOT NULL,
    fingerprint VARCHAR NOT NULL,
    outputs JSON NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
