import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Controller, Get, Header } from '@nestjs/common';
import { Public } from '@hotdash/platform-auth';
import { NotInApi, PUBLIC_PAGES } from '@hotdash/platform-http';

const SCRIPT = readFileSync(join(__dirname, 'account.js'));

/** Every page: no framing, no inline script, nothing cached, no Referer leaves with the page's address. */
const SECURITY_HEADERS: [string, string][] = [
  ['Content-Security-Policy', "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"],
  ['Referrer-Policy', 'no-referrer'],
  ['Cache-Control', 'no-store'],
  ['X-Content-Type-Options', 'nosniff'],
];
const secured = (): MethodDecorator => (target, key, descriptor) => {
  for (const [name, value] of SECURITY_HEADERS) Header(name, value)(target, key, descriptor);
};

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
label{display:block;margin-top:.75rem;font-weight:600}input{width:100%;box-sizing:border-box;padding:.5rem;font:inherit;border:1px solid #555;border-radius:4px}
button{margin-top:1rem;padding:.55rem 1.2rem;font:inherit;background:#0b57d0;color:#fff;border:0;border-radius:4px;cursor:pointer}
.ok{color:#0a5d2a}.error{color:#a50e0e}p[role=status]{padding:.5rem 0}`;

function page(mode: 'invitation' | 'reset', title: string, intro: string, extraFields: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · HotDash</title><style>${STYLE}</style></head><body data-mode="${mode}"><main>
<h1>${title}</h1><p>${intro}</p>
<form id="set">${extraFields}
<label for="password">New password (at least 12 characters)</label><input id="password" type="password" autocomplete="new-password" minlength="12" required>
<label for="password2">The same password again</label><input id="password2" type="password" autocomplete="new-password" minlength="12" required>
<button type="submit">Set password</button></form>
<p id="set-result" role="status" tabindex="-1" hidden></p>
<form id="signin" hidden><h2>Sign in</h2>
<label for="tenant">Organisation</label><input id="tenant" autocomplete="organization" required>
<label for="email">E-mail address</label><input id="email" type="email" autocomplete="username" required>
<label for="signin-password">Password</label><input id="signin-password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>
<p id="signin-result" role="status" tabindex="-1" hidden></p>
</main><script src="/pages/account.js"></script></body></html>`;
}

const INVITATION_PAGE = page('invitation', 'Accept your invitation', 'Choose a password to join your organisation on HotDash.', '<label for="displayName">Your name (optional)</label><input id="displayName" autocomplete="name" maxlength="200">');
const RESET_PAGE = page('reset', 'Set a new password', 'Choose a new password; every session you had ends when it is set.', '');

/**
 * The pages the e-mails link to: accept an invitation, set a new password after a reset; each posts
 * to the API route of the same path and then offers sign-in. (Stand-ins until the portal serves them.)
 */
@Controller()
@Public()
@NotInApi()
export class AccountPagesController {
  @Get(PUBLIC_PAGES.invitation)
  @Header('Content-Type', 'text/html; charset=utf-8')
  @secured()
  invitation(): string {
    return INVITATION_PAGE;
  }

  @Get(PUBLIC_PAGES.passwordReset)
  @Header('Content-Type', 'text/html; charset=utf-8')
  @secured()
  passwordReset(): string {
    return RESET_PAGE;
  }

  @Get('pages/account.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @secured()
  script(): Buffer {
    return SCRIPT;
  }
}
