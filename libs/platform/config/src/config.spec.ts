// HOTDASH_BACKUP_DIR: the archive store's folder is an absolute path (a relative one would depend
// on where each process was started), the checkout's .local/backups by default.
import { isAbsolute, join } from 'node:path';
import { DEFAULT_BACKUP_DIR, loadConfig } from './config';

it('takes an absolute HOTDASH_BACKUP_DIR, defaults to the checkout’s .local/backups, and refuses a relative one', () => {
  expect(loadConfig({ HOTDASH_BACKUP_DIR: '/var/lib/hotdash/backups/' }).backup.dir).toBe('/var/lib/hotdash/backups');
  expect(loadConfig({}).backup.dir).toBe(DEFAULT_BACKUP_DIR);
  expect(isAbsolute(DEFAULT_BACKUP_DIR)).toBe(true);
  expect(DEFAULT_BACKUP_DIR.endsWith(join('.local', 'backups'))).toBe(true);
  expect(() => loadConfig({ HOTDASH_BACKUP_DIR: 'backups' })).toThrow(/HOTDASH_BACKUP_DIR must be an absolute directory path/);
  expect(() => loadConfig({ HOTDASH_BACKUP_DIR: '/tmp/x\0y' })).toThrow(/HOTDASH_BACKUP_DIR/);
});

it('takes the default region of sign-ups from HOTDASH_DEFAULT_REGION (`local` by default) and refuses one that is not a region', () => {
  expect(loadConfig({}).regions.default).toBe('local');
  expect(loadConfig({ HOTDASH_DEFAULT_REGION: 'eu-west-1' }).regions.default).toBe('eu-west-1');
  expect(() => loadConfig({ HOTDASH_DEFAULT_REGION: 'EU West' })).toThrow(/HOTDASH_DEFAULT_REGION must be a region/);
});
