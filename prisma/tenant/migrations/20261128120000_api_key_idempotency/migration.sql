-- POST /api-keys takes an Idempotency-Key (issue 4: every POST that creates something): a retried
-- creation finds the key it made instead of minting a second one.
alter table api_keys add column idempotency_key text;
alter table api_keys add constraint api_keys_idempotency_key unique (tenant_id, idempotency_key);
