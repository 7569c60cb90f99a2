-- Platform operators (issue 4): the ops team's accounts. They sign in at the gateway's /ops/login
-- and reach the ops routes only: no tenant credential reaches those routes, and an ops token
-- reaches no tenant route. Accounts are added and disabled with `npm run ops:operator` (owner role);
-- services read them and record sign-ins only.
create table platform_operators (
  id            uuid primary key,
  email         text not null check (email = lower(email) and length(email) between 3 and 254),
  display_name  text check (length(display_name) <= 200),
  password_hash text not null,
  status        text not null default 'active' check (status in ('active', 'disabled')),
  created_at    timestamptz not null default now(),
  disabled_at   timestamptz,
  last_login_at timestamptz
);
create unique index platform_operators_email_key on platform_operators (email);

grant select on platform_operators to hotdash_app;
grant update (last_login_at) on platform_operators to hotdash_app;
