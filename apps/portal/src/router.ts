// The portal's screens live in the address bar under /app (the gateway answers index.html for
// /app/*; the paths beside it are the API's).
import { useEffect, useState } from 'react';

export type Screen = 'queue' | 'knowledge' | 'operators' | 'usage' | 'audit' | 'settings' | 'sso' | 'exports' | 'erasure';
export const SCREENS: Record<Screen, string> = {
  queue: 'Queue',
  knowledge: 'Knowledge base',
  operators: 'Operators',
  usage: 'Usage',
  audit: 'Audit log',
  settings: 'Settings',
  sso: 'Single sign-on',
  exports: 'Data export',
  erasure: 'Erasure',
};

/**
 * The pages e-mails link to, open to anyone with the link (the secret in the fragment): accept an
 * invitation, set a new password. The gateway sends the former addresses (/invitations/accept,
 * /auth/password-reset/confirm) here.
 */
export type AccountPage = 'invitation' | 'reset';
export const accountPageOf = (path: string): AccountPage | null => (path === '/app/invitation' ? 'invitation' : path === '/app/reset' ? 'reset' : null);

export const pathOf = (s: Screen): string => `/app/${s}`;
const screenOf = (path: string): Screen => {
  const name = /^\/app\/([a-z-]+)/.exec(path)?.[1];
  return name && name in SCREENS ? (name as Screen) : 'queue';
};

export function useScreen(): [Screen, (s: Screen) => void] {
  const [screen, setScreen] = useState<Screen>(() => screenOf(location.pathname));
  useEffect(() => {
    const back = () => setScreen(screenOf(location.pathname));
    addEventListener('popstate', back);
    return () => removeEventListener('popstate', back);
  }, []);
  const go = (s: Screen) => {
    if (location.pathname !== pathOf(s)) history.pushState(null, '', pathOf(s));
    setScreen(s);
  };
  return [screen, go];
}
