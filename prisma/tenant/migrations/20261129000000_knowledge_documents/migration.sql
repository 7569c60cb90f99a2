-- The knowledge service (issue 5) takes over kb_documents: uploads of four types kept as sent
-- (`source`), each replacement a new version, ingestion state and progress. Rows stored by
-- provisioning before (initial documents, plain text in `content`) stay valid: status 'stored'
-- means "waiting to be indexed", version 1, type text/plain.
alter table kb_documents alter column bytes type bigint;
alter table kb_documents
  add column content_type    text not null default 'text/plain'
    check (content_type in ('text/plain', 'text/markdown', 'text/html', 'application/pdf')),
  add column source          bytea,
  add column sha256          text check (sha256 ~ '^[0-9a-f]{64}$'),
  add column version         integer not null default 1 check (version >= 1),
  add column progress        integer not null default 0 check (progress between 0 and 100),
  add column chunk_count     integer not null default 0 check (chunk_count >= 0),
  add column embedding_model text,
  add column error           text,
  add column created_by      text,
  add column indexed_at      timestamptz(6);
alter table kb_documents drop constraint kb_documents_status_check;
alter table kb_documents add constraint kb_documents_status_check
  check (status in ('stored', 'queued', 'indexing', 'indexed', 'failed'));
-- Listing a tenant's documents newest first, and finding the ones still to index after a restart.
create index kb_documents_pending_idx on kb_documents (tenant_id, status) where status in ('stored', 'queued', 'indexing');
