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

it('uses a Redis Cluster when HOTDASH_REDIS_CLUSTER_NODES lists its nodes, and refuses a malformed list naming the entry', () => {
  expect(loadConfig({}).redis.cluster).toBeUndefined();
  expect(loadConfig({ HOTDASH_REDIS_CLUSTER_NODES: '' }).redis.cluster).toBeUndefined();
  expect(loadConfig({ HOTDASH_REDIS_CLUSTER_NODES: '10.0.0.1:7001, redis-2.internal:7002,[::1]:7003' }).redis.cluster).toEqual([
    { host: '10.0.0.1', port: 7001 },
    { host: 'redis-2.internal', port: 7002 },
    { host: '::1', port: 7003 },
  ]);
  expect(() => loadConfig({ HOTDASH_REDIS_CLUSTER_NODES: '10.0.0.1:7001,10.0.0.2' })).toThrow(/HOTDASH_REDIS_CLUSTER_NODES must be host:port entries.*entry 2 of 2 \("10\.0\.0\.2"\) is not host:port/s);
  expect(() => loadConfig({ HOTDASH_REDIS_CLUSTER_NODES: '10.0.0.1:70010' })).toThrow(/HOTDASH_REDIS_CLUSTER_NODES/);
  expect(() => loadConfig({ HOTDASH_REDIS_CLUSTER_NODES: '10.0.0.1:7001,,10.0.0.3:7003' })).toThrow(/entry 2 of 3 \(empty\)/);
});
