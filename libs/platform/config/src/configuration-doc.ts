import { SETTINGS, settingsBySection, type SettingName } from './settings';

/** docs/configuration.md holds the generated tables between these two lines. */
export const DOC_BEGIN = '<!-- settings:begin (generated from libs/platform/config/src/settings.ts by `npm run config:doc`; do not edit by hand) -->';
export const DOC_END = '<!-- settings:end -->';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function shownDefault(name: SettingName): string {
  const def = SETTINGS[name] as { default?: unknown; shownDefault?: string; secret?: boolean };
  if (def.shownDefault !== undefined) return def.shownDefault;
  if (def.default === undefined) return 'none';
  const value = Array.isArray(def.default) ? def.default.join(',') : String(def.default);
  return value === '' ? 'none' : `\`${value}\``;
}

/** The tables of every setting, section by section: name, default, what it must be, meaning, who reads it. */
export function renderSettingsTables(): string {
  const out: string[] = [];
  for (const { section, names } of settingsBySection()) {
    if (!names.length) continue;
    out.push(`### ${section}`, '', '| variable | default | must be | meaning | read by |', '|---|---|---|---|---|');
    for (const name of names) {
      const def = SETTINGS[name] as { expected: string; meaning: string; readBy: string; secret?: boolean; requiredInProduction?: string };
      const flags = [def.secret ? 'secret: never shown in errors' : '', def.requiredInProduction ? 'required when `NODE_ENV=production`' : ''].filter(Boolean);
      out.push(`| \`${name}\` | ${cell(shownDefault(name))} | ${cell(def.expected)} | ${cell(def.meaning)}${flags.length ? ` (${flags.join('; ')})` : ''} | ${cell(def.readBy)} |`);
    }
    out.push('');
  }
  return out.join('\n').trimEnd();
}

/** The document with its generated block replaced by the current tables (throws when the markers are missing). */
export function withSettingsTables(doc: string): string {
  const begin = doc.indexOf(DOC_BEGIN);
  const end = doc.indexOf(DOC_END);
  if (begin < 0 || end < begin) throw new Error(`docs/configuration.md must hold the lines ${DOC_BEGIN} and ${DOC_END}`);
  return `${doc.slice(0, begin + DOC_BEGIN.length)}\n\n${renderSettingsTables()}\n\n${doc.slice(end)}`;
}
