// The account pages' script (invitation, password reset): reads the secret from the URL fragment
// (never sent to a server), drops it from the address bar, posts it with the new password, then
// offers sign-in with the tenant slug. Served by the gateway as /pages/account.js.
(() => {
  const mode = document.body.dataset.mode;
  const token = decodeURIComponent(location.hash.slice(1));
  history.replaceState(null, '', location.pathname);
  const $ = (id) => document.getElementById(id);
  const say = (id, text, ok) => {
    const el = $(id);
    el.textContent = text;
    el.className = ok ? 'ok' : 'error';
    el.hidden = false;
    el.focus();
  };
  const post = async (path, body, headers = {}) => {
    const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const text = await res.text();
    return { ok: res.ok, status: res.status, body: text ? JSON.parse(text) : {} };
  };
  const problemText = (r) => r.body.detail || r.body.title || `The request failed (${r.status}).`;

  if (!token) {
    say('set-result', 'This page needs the link from your e-mail: open the link exactly as it was sent.', false);
    $('set').hidden = true;
  }
  $('set').addEventListener('submit', async (e) => {
    e.preventDefault();
    const password = $('password').value;
    if (password !== $('password2').value) return say('set-result', 'The two passwords differ; type the same one twice.', false);
    const body = { token, password };
    if (mode === 'invitation' && $('displayName').value.trim()) body.displayName = $('displayName').value.trim();
    const r = await post(location.pathname, body);
    if (!r.ok) return say('set-result', problemText(r), false);
    $('set').hidden = true;
    if (r.body.tenant) $('tenant').value = r.body.tenant;
    say('set-result', r.body.tenant ? `Your password is set. Sign in with the organisation "${r.body.tenant}" and your e-mail address.` : 'Your password is set. Sign in with your organisation and e-mail address.', true);
    $('signin').hidden = false;
  });
  $('signin').addEventListener('submit', async (e) => {
    e.preventDefault();
    const r = await post('/auth/login', { tenant: $('tenant').value.trim(), email: $('email').value.trim(), password: $('signin-password').value });
    if (!r.ok) return say('signin-result', problemText(r), false);
    const me = await fetch('/me', { headers: { authorization: `Bearer ${r.body.accessToken}` } }).then((x) => x.json());
    say('signin-result', `Signed in as ${me.email} (${String(me.role).replace('_', ' ')}). The API and its documentation are at /docs.`, true);
  });
})();
