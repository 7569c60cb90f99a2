-- An outbox row that can never be published (its topic is not one of the platform's, or it is
-- larger than Kafka accepts) is set aside with the reason instead of blocking every event behind it.
alter table outbox add column failed_at timestamptz(6), add column last_error text;
grant update (failed_at, last_error) on outbox to hotdash_relay;
drop index outbox_unpublished_idx;
create index outbox_unpublished_idx on outbox (seq) where published_at is null and failed_at is null;
