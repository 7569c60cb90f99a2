-- The mail dispatcher delivers every tenant's mail of a shard, like the outbox relay delivers its
-- events: as the relay role, through a policy of its own on mail_outbox only, reading and marking
-- sent (no other column can change).
grant select, update (sent_at) on mail_outbox to hotdash_relay;
create policy relay_deliver on mail_outbox for all to hotdash_relay using (true) with check (true);
