-- The tenant settings API (issue 16 item 1): what an admin changes after sign-up, and a version for
-- optimistic concurrency. Columns only; the rows stay provisioning's (tenant_settings,
-- approval_workflows, model_configs).
--
-- tenant_settings.company_name: the name drafts are signed with; null (rows written before this
-- migration) means the tenant's name in the control plane. tenant_settings.version: the settings'
-- version, raised by every change the settings API writes and carried by the tenant.settings-changed
-- (and tenant.approval-workflows-changed) event written in the same transaction; 1 is what the
-- provisioning saga writes and announces. tenant_settings.policies stays one rule per line (the API
-- refuses a rule with a line break, so the lines are the list, in order).
alter table tenant_settings add column company_name text;
alter table tenant_settings add column version integer not null default 1;
alter table tenant_settings add constraint tenant_settings_version_check check (version >= 1);

-- A workflow's SLA: sla_minutes is the time to the first decision on a draft; past it the ticket is
-- escalated to the team lead when this is on.
alter table approval_workflows add column escalate_to_team_lead boolean not null default false;

-- The own model's sampling settings; null: the model adapter's defaults.
alter table model_configs add column temperature double precision;
alter table model_configs add column max_tokens integer;
alter table model_configs add constraint model_configs_temperature_check check (temperature >= 0 and temperature <= 2);
alter table model_configs add constraint model_configs_max_tokens_check check (max_tokens > 0 and max_tokens <= 32000);
