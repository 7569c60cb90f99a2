-- A tenant's offboarding erases what the control plane holds of it beyond its offboarding record:
-- its finished sagas (their inputs carry its name and first admin's address; the steps go with
-- them), its events already relayed from the outbox and its data subjects' key records (their keys
-- are unreadable once the tenant's data key is destroyed; the rows go too). The application role
-- may now delete them. The offboarding record keeps the signed certificate of what was erased.
grant delete on sagas, saga_steps, outbox, subject_keys to hotdash_app;
alter table offboarding_records add column certificate jsonb;
grant update (certificate) on offboarding_records to hotdash_app;
