-- A message that can never be sent (its address cannot be decrypted any more: the tenant's key was
-- destroyed) is marked failed instead of blocking the messages behind it.
alter table mail_outbox add column failed_at timestamptz(6), add column last_error text;
grant update (failed_at, last_error) on mail_outbox to hotdash_relay;
create index mail_outbox_pending_idx on mail_outbox (created_at) where sent_at is null and failed_at is null;
