import { readSetting } from '@hotdash/platform-config';

/**
 * Links people follow from what the platform sends them (sign-up answers, e-mails), absolute on the
 * public address of the gateway: HOTDASH_PUBLIC_URL (default the local gateway). Secrets travel in
 * the fragment (`#token`): browsers never send it to a server, so it stays out of access logs,
 * proxies and Referer headers; the page reads it and posts it.
 */
export function publicUrl(path: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = readSetting('HOTDASH_PUBLIC_URL', env) ?? `http://127.0.0.1:${readSetting('HOTDASH_GATEWAY_PORT', env)}`;
  return `${base.replace(/\/+$/, '')}${path}`;
}

/** The portal's pages behind the links (apps/portal; each posts to the API route of FORMER_PUBLIC_PAGES' same key). */
export const PUBLIC_PAGES = {
  invitation: '/app/invitation',
  passwordReset: '/app/reset',
} as const;

/**
 * Where the links pointed before the portal served these pages: the gateway answers a GET there with
 * a redirect to the portal's page (the browser keeps the fragment), so links already mailed keep
 * working. The same paths' POSTs are the API routes the pages call.
 */
export const FORMER_PUBLIC_PAGES = {
  invitation: '/invitations/accept',
  passwordReset: '/auth/password-reset/confirm',
} as const;

export const PublicLinks = {
  /** The portal's page that accepts an invitation and sets the password. */
  invitation: (token: string): string => publicUrl(`${PUBLIC_PAGES.invitation}#${token}`),
  /** The portal's page that sets a new password with a reset token. */
  passwordReset: (token: string): string => publicUrl(`${PUBLIC_PAGES.passwordReset}#${token}`),
  /** Single sign-on through the organisation's identity provider, back to the portal. */
  singleSignOn: (slug: string): string => publicUrl(`/auth/sso/start?tenant=${encodeURIComponent(slug)}&to=portal`),
  /** The interactive API documentation. */
  docs: (): string => publicUrl('/docs'),
};
