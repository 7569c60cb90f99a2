-- Seeds one tenant with ~100,000 rows × k spread over every tenant table (k = 1: the issue's
-- benchmark tenant). Scratch clusters only; run as a superuser (bypasses RLS):
--   select tmove_seed('<tenant uuid>', 1.0);
create or replace function tmove_seed(t uuid, k numeric) returns bigint language plpgsql as $$
declare
  n_users int := greatest(1, (200 * k)::int);
  n_tickets int := greatest(1, (10000 * k)::int);
  total bigint;
begin
  insert into users (id, tenant_id, email_enc, email_hash, display_name, role, status, password_hash, team)
    select gen_random_uuid(), t, 'v1.' || md5(random()::text) || md5(random()::text), md5(t::text || i), 'User ' || i,
           (array['operator','team_lead','manager','admin'])[1 + i % 4], 'active', 'scrypt$' || md5(i::text), 'team-' || (i % 5)
      from generate_series(1, n_users) i;
  insert into queue_members (tenant_id, user_id, role, team, status, updated_at)
    select tenant_id, id, role, team, status, now() from users where tenant_id = t;
  insert into invitations (id, tenant_id, user_id, token_hash, expires_at)
    select gen_random_uuid(), t, id, md5(random()::text) || md5(id::text), now() + interval '7 days' from users where tenant_id = t;
  insert into auth_sessions (id, tenant_id, user_id, expires_at, ip, user_agent)
    select gen_random_uuid(), t, u.id, now() + interval '30 days', '10.0.0.' || (i % 250), 'Mozilla/5.0 bench'
      from users u, generate_series(1, 10) i where u.tenant_id = t;
  insert into refresh_tokens (id, tenant_id, session_id, token_hash, status, expires_at)
    select gen_random_uuid(), t, s.id, md5(random()::text) || md5(s.id::text || i), (array['active','rotated'])[1 + i % 2], now() + interval '30 days'
      from auth_sessions s, generate_series(1, 2) i where s.tenant_id = t;
  insert into password_resets (id, tenant_id, user_id, token_hash, expires_at)
    select gen_random_uuid(), t, id, md5(random()::text) || 'pr', now() + interval '1 hour' from users where tenant_id = t limit greatest(1, (100 * k)::int);
  insert into api_keys (id, tenant_id, name, prefix, key_hash, role, scopes, created_by)
    select gen_random_uuid(), t, 'key ' || i, 'hdk_' || i, md5(random()::text) || md5(i::text), 'operator', '{tickets:read,tickets:write}', gen_random_uuid()
      from generate_series(1, greatest(1, (50 * k)::int)) i;
  insert into approval_workflows (id, tenant_id, key, name, approver_roles, sla_minutes, is_default)
    select gen_random_uuid(), t, 'wf' || i, 'Workflow ' || i, '{team_lead,manager}', 60, i = 1 from generate_series(1, 3) i;
  insert into tenant_settings (tenant_id, brand_voice, policies, sla) values (t, 'friendly', 'Be nice', '{"firstResponseMinutes": 60}');
  insert into model_configs (tenant_id, mode, provider, model) values (t, 'platform', 'offline', 'extractive');
  insert into drafting_profiles (tenant_id, version, changed_at, company_name, brand_voice, policies, model_mode, model_provider, model_name)
    values (t, 1, now(), 'Bench Co', 'friendly', '{be nice}', 'platform', 'offline', 'extractive');
  insert into kb_documents (id, tenant_id, title, content, bytes, status, sha256)
    select gen_random_uuid(), t, 'Doc ' || i, repeat(md5(i::text), 30), 960, 'indexed', encode(sha256(i::text::bytea), 'hex')
      from generate_series(1, greatest(1, (500 * k)::int)) i;
  insert into mail_outbox (id, tenant_id, to_enc, subject, body, kind, sent_at)
    select gen_random_uuid(), t, 'v1.' || md5(random()::text), 'Welcome', repeat('x', 200), 'invitation', now()
      from generate_series(1, greatest(1, (1000 * k)::int)) i;
  insert into tickets (id, tenant_id, channel, customer_name_enc, customer_email_enc, subject_enc, body_enc, status, assignee_id, received_at)
    select gen_random_uuid(), t, 'api', 'v1.' || md5(random()::text), 'v1.' || md5(random()::text), 'v1.' || md5(random()::text),
           'v1.' || repeat(md5(random()::text), 4), 'pending', null, now() - (i || ' seconds')::interval
      from generate_series(1, n_tickets) i;
  insert into drafts (id, tenant_id, ticket_id, attempt, status, body_enc, citations, model, prompt_tokens, completion_tokens)
    select gen_random_uuid(), t, id, 1, 'pending', 'v1.' || repeat(md5(id::text), 6), '[{"chunk":"c1","score":0.8}]', 'extractive', 500, 120
      from tickets where tenant_id = t;
  insert into audit_log (id, tenant_id, seq, event_id, event_type, actor_id, occurred_at, recorded_at, payload, prev_hash, hash)
    select gen_random_uuid(), t, i, gen_random_uuid(), 'ticket.received', 'user:x', now(), now(),
           jsonb_build_object('ticketId', gen_random_uuid(), 'n', i), md5((i - 1)::text) || md5('p'), md5(i::text) || md5('h')
      from generate_series(1, greatest(1, (30000 * k)::int)) i;
  insert into audit_heads (tenant_id, seq, hash) values (t, greatest(1, (30000 * k)::int), 'head');
  insert into outbox (id, tenant_id, topic, key, type, version, envelope, published_at)
    select gen_random_uuid(), t, 'hotdash.tickets', t::text, 'ticket.received', 1,
           jsonb_build_object('id', gen_random_uuid(), 'type', 'ticket.received', 'tenantId', t, 'payload', jsonb_build_object('ticketId', gen_random_uuid(), 'body', repeat('y', 200))), now()
      from generate_series(1, greatest(1, (20000 * k)::int)) i;
  insert into inbox (tenant_id, consumer, event_id)
    select t, (array['audit','quota','drafts','ai-drafting'])[1 + i % 4], gen_random_uuid() from generate_series(1, greatest(1, (15719 * k)::int)) i;
  insert into usage_daily (tenant_id, day, metric, amount)
    select t, current_date - d, m, d * 10 from generate_series(0, greatest(0, (250 * k)::int - 1)) d, unnest(array['tickets','model_tokens','api_calls','storage_bytes']) m;
  insert into quota_counters (tenant_id, metric, period_start, used)
    select t, m, (date_trunc('month', current_date) - (p || ' months')::interval)::date, p from generate_series(0, 11) p, unnest(array['tickets','storage_bytes']) m;
  insert into quota_reservations (id, tenant_id, metric, period_start, amount, status, expires_at)
    select gen_random_uuid(), t, 'tickets', date_trunc('month', current_date)::date, 1, 'committed', now() + interval '1 hour'
      from generate_series(1, greatest(1, (5000 * k)::int)) i;
  select sum(n) into total from (
    select count(*) n from users where tenant_id = t union all select count(*) from queue_members where tenant_id = t
    union all select count(*) from invitations where tenant_id = t union all select count(*) from auth_sessions where tenant_id = t
    union all select count(*) from refresh_tokens where tenant_id = t union all select count(*) from password_resets where tenant_id = t
    union all select count(*) from api_keys where tenant_id = t union all select count(*) from approval_workflows where tenant_id = t
    union all select count(*) from tenant_settings where tenant_id = t union all select count(*) from model_configs where tenant_id = t
    union all select count(*) from drafting_profiles where tenant_id = t union all select count(*) from kb_documents where tenant_id = t
    union all select count(*) from mail_outbox where tenant_id = t union all select count(*) from tickets where tenant_id = t
    union all select count(*) from drafts where tenant_id = t union all select count(*) from audit_log where tenant_id = t
    union all select count(*) from audit_heads where tenant_id = t union all select count(*) from outbox where tenant_id = t
    union all select count(*) from inbox where tenant_id = t union all select count(*) from usage_daily where tenant_id = t
    union all select count(*) from quota_counters where tenant_id = t union all select count(*) from quota_reservations where tenant_id = t) x;
  return total;
end $$;
