// The settings schema: every HOTDASH_* value checked (name and what is expected in the error),
// defaults applied, secrets never echoed, settings production requires, and at a service's start
// (strict) a HOTDASH_* variable that is not a setting refused with the setting it probably meant.
import { ConfigError, parseSettings, readSetting, suggestSetting, SETTINGS } from './settings';
import { loadConfig, serviceUrl } from './config';

function refused(env: NodeJS.ProcessEnv, strict = false): string[] {
  try {
    parseSettings(env, { strict });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('the environment was accepted');
}

it('applies the defaults of deploy/local when nothing is set, empty counting as unset', () => {
  const s = parseSettings({ HOTDASH_PG_PORT: '', HOTDASH_CONSUMER_MAX_ATTEMPTS: '' }, { strict: true });
  expect(s).toMatchObject({
    HOTDASH_PG_PORT: 54329,
    HOTDASH_CONSUMER_MAX_ATTEMPTS: 5,
    HOTDASH_CONSUMER_START: 'earliest',
    HOTDASH_KAFKA_BROKERS: ['127.0.0.1:19092'],
    HOTDASH_TRUSTED_PROXIES: [],
    HOTDASH_KNOWLEDGE_SWEEP_MS: 60_000,
    HOTDASH_BIND: '127.0.0.1',
  });
  expect(s.HOTDASH_PER_ADDRESS_PER_MINUTE).toBeUndefined();
  expect(serviceUrl(s, 'audit')).toBe('http://127.0.0.1:3107');
  expect(serviceUrl(parseSettings({ HOTDASH_QUOTA_PORT: '4105' }), 'quota')).toBe('http://127.0.0.1:4105');
  expect(serviceUrl(parseSettings({ HOTDASH_QUOTA_URL: 'https://quota.internal' }), 'quota')).toBe('https://quota.internal');
});

it('parses values into their types', () => {
  const s = parseSettings({
    HOTDASH_KAFKA_BROKERS: 'k1.internal:9092, [fd00::7]:9093',
    HOTDASH_TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.10, fd00::/8',
    HOTDASH_KNOWLEDGE_SWEEP_MS: 'off',
    HOTDASH_CONSUMER_START: 'latest',
    HOTDASH_KMS_MASTER_KEYS: `k2:${Buffer.alloc(32, 2).toString('base64')}, k1:${Buffer.alloc(32, 1).toString('base64')}`,
    HOTDASH_BACKUP_DIR: '/var/lib/hotdash/backups/',
  });
  expect(s.HOTDASH_KAFKA_BROKERS).toEqual(['k1.internal:9092', '[fd00::7]:9093']);
  expect(s.HOTDASH_TRUSTED_PROXIES).toEqual(['10.0.0.0/8', '192.168.1.10', 'fd00::/8']);
  expect(s.HOTDASH_KNOWLEDGE_SWEEP_MS).toBe(0);
  expect(s.HOTDASH_CONSUMER_START).toBe('latest');
  expect(s.HOTDASH_BACKUP_DIR).toBe('/var/lib/hotdash/backups');
});

it('refuses a malformed value with the variable, what it must be and what it got, every problem at once', () => {
  const problems = refused({
    HOTDASH_CONSUMER_MAX_ATTEMPTS: '5x',
    HOTDASH_CONSUMER_START: 'lastest',
    HOTDASH_PG_PORT: '70000',
    HOTDASH_KAFKA_BROKERS: 'k1:9092,,k3',
    HOTDASH_WEAVIATE_URL: 'weaviate:8080',
    HOTDASH_TRUSTED_PROXIES: '10.0.0.0/33',
    HOTDASH_KNOWLEDGE_SWEEP_MS: 'of',
    HOTDASH_BOOTSTRAP_SHARDS: 'shard-1=db:5432/hotdash_shard_1,shard 2',
  });
  expect(problems).toEqual(
    expect.arrayContaining([
      'HOTDASH_CONSUMER_MAX_ATTEMPTS must be an integer from 1 to 1000 (attempts before an event is dead-lettered), got "5x" (not an integer from 1 to 1000)',
      'HOTDASH_CONSUMER_START must be `earliest` or `latest`, got "lastest" (not one of earliest, latest)',
      'HOTDASH_PG_PORT must be a TCP port (1 to 65535), got "70000" (not an integer from 1 to 65535)',
      expect.stringMatching(/^HOTDASH_KAFKA_BROKERS must be host:port entries, comma separated, got "k1:9092,,k3" \(entry 2 of 3 \(empty\) is not host:port; entry 3 of 3 \("k3"\) is not host:port\)$/),
      expect.stringMatching(/^HOTDASH_WEAVIATE_URL must be an http\(s\) URL, got "weaviate:8080"/),
      expect.stringMatching(/^HOTDASH_TRUSTED_PROXIES must be IP addresses or CIDRs/),
      expect.stringMatching(/^HOTDASH_KNOWLEDGE_SWEEP_MS must be `off` or a positive integer \(milliseconds\), got "of"/),
      expect.stringMatching(/^HOTDASH_BOOTSTRAP_SHARDS must be name=host:port\/database entries.*entry 2 of 2 \("shard 2"\)/),
    ]),
  );
  expect(problems).toHaveLength(8);
  expect(() => readSetting('HOTDASH_CONSUMER_MAX_ATTEMPTS', { HOTDASH_CONSUMER_MAX_ATTEMPTS: '0' })).toThrow(/^configuration refused: HOTDASH_CONSUMER_MAX_ATTEMPTS must be an integer from 1 to 1000/);
  expect(readSetting('HOTDASH_CONSUMER_MAX_ATTEMPTS', { HOTDASH_CONSUMER_MAX_ATTEMPTS: '3' })).toBe(3);
});

it('never echoes a secret in an error', () => {
  const secret = 'k1:c2VjcmV0LW1hdGVyaWFs';
  const [problem] = refused({ HOTDASH_KMS_MASTER_KEYS: secret });
  expect(problem).toMatch(/^HOTDASH_KMS_MASTER_KEYS must be id:base64\(32 bytes\) entries, comma separated, current first, got a value not shown here \(a secret\) \(entry 1 \(id "k1"\): the key must be 32 bytes, got 15\)$/);
  expect(problem).not.toContain('c2VjcmV0');
  const [password] = refused({ HOTDASH_DB_APP_PASSWORD: 'line one\nline two' });
  expect(password).not.toContain('line one');
});

it('requires the KMS and token keys in production', () => {
  const problems = refused({ NODE_ENV: 'production' });
  expect(problems).toEqual([
    expect.stringMatching(/^HOTDASH_AUTH_VERIFY_KEYS is not set; it is required in production/),
    expect.stringMatching(/^HOTDASH_KMS_MASTER_KEYS is not set; it is required in production/),
  ]);
  const kms = `k1:${Buffer.alloc(32, 1).toString('base64')}`;
  expect(() => parseSettings({ NODE_ENV: 'production', HOTDASH_KMS_MASTER_KEYS: kms, HOTDASH_AUTH_SIGNING_KEY: 'k1:MC4CAQAwBQYDK2VwBCIEIKmz1Z0VDy4GKTIEMmoKQWq/HQSMnPavVZNVV1aaqBqS' })).not.toThrow();
});

describe('at a service’s start (strict)', () => {
  it('refuses a HOTDASH_* variable that is not a setting, naming the one a typo meant', () => {
    expect(refused({ HOTDASH_CONSUMER_MAX_ATEMPTS: '3' }, true)).toEqual([
      expect.stringMatching(/^HOTDASH_CONSUMER_MAX_ATEMPTS is not a HotDash setting; did you mean HOTDASH_CONSUMER_MAX_ATTEMPTS \(attempts at an event before it is dead-lettered/),
    ]);
    // Not a typo of a name, but of a purpose: the dead-lettering setting is named by what its name holds.
    expect(refused({ HOTDASH_DEADLETTER: '3' }, true)).toEqual([expect.stringMatching(/^HOTDASH_DEADLETTER is not a HotDash setting; did you mean HOTDASH_CONSUMER_MAX_ATTEMPTS /)]);
    expect(refused({ HOTDASH_DLQ_ATTEMPTS: '3' }, true)).toEqual([expect.stringMatching(/did you mean HOTDASH_CONSUMER_MAX_ATTEMPTS /)]);
    expect(refused({ HOTDASH_WHATEVER: '1' }, true)).toEqual([expect.stringMatching(/^HOTDASH_WHATEVER is not a HotDash setting\. Every HOTDASH_\* variable must be one of those in docs\/configuration\.md/)]);
    // Without strict (tools, fixtures), unknown variables are left alone; other prefixes always are.
    expect(() => parseSettings({ HOTDASH_DEADLETTER: '3' })).not.toThrow();
    expect(() => parseSettings({ PATH: '/bin', MOVE_DRILL_REPEAT: '3', hotdash_lower: 'x' }, { strict: true })).not.toThrow();
  });

  it('suggests by edit distance: a missing, doubled or swapped letter', () => {
    expect(suggestSetting('HOTDASH_PG_PROT')).toBe('HOTDASH_PG_PORT');
    expect(suggestSetting('HOTDASH_REDDIS_HOST')).toBe('HOTDASH_REDIS_HOST');
    expect(suggestSetting('HOTDASH_KAFKA_BROKER')).toBe('HOTDASH_KAFKA_BROKERS');
    expect(suggestSetting('hotdash_mail_dir')).toBe('HOTDASH_MAIL_DIR');
    expect(suggestSetting('HOTDASH_SOMETHING_ELSE_ENTIRELY')).toBeUndefined();
  });
});

it('every setting says what it must be, what it means and who reads it; a default parses', () => {
  for (const [name, def] of Object.entries(SETTINGS)) {
    expect([name, def.expected.length > 0, def.meaning.length > 0, def.readBy.length > 0]).toEqual([name, true, true, true]);
    expect(name).toMatch(/^HOTDASH_[A-Z0-9]+(_[A-Z0-9]+)*$/);
  }
  expect(loadConfig({}).db.bootstrapShards).toBe('shard-1=127.0.0.1:54329/hotdash_shard_1,shard-2=127.0.0.1:54329/hotdash_shard_2');
});
