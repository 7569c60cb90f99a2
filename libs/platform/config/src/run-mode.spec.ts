import { join, resolve } from 'node:path';
import { applyRunMode, embeddedDefaults } from './run-mode';
import { parseSettings } from './settings';

describe('applyRunMode', () => {
  it('embedded: fills every per-port setting with its embedded adapter and a folder under HOTDASH_EMBEDDED_DIR', () => {
    const env: NodeJS.ProcessEnv = { HOTDASH_EMBEDDED_DIR: 'tmp/emb' };
    const applied = applyRunMode(env, 'embedded');
    const root = resolve('tmp/emb');
    expect(applied).toMatchObject({ mode: 'embedded', root });
    expect(env).toMatchObject({
      HOTDASH_MODE: 'embedded',
      HOTDASH_KAFKA_CLIENT: 'in-process',
      HOTDASH_JOB_RUNNER: 'embedded',
      HOTDASH_STATE_STORE: 'embedded',
      HOTDASH_VECTOR_STORE: 'lancedb',
      HOTDASH_BUS_DIR: join(root, 'bus'),
      HOTDASH_JOBS_DIR: join(root, 'jobs'),
      HOTDASH_STATE_DIR: join(root, 'state'),
      HOTDASH_LANCEDB_DIR: join(root, 'lancedb'),
      HOTDASH_EMBEDDED_PG_DIR: join(root, 'pg'),
      HOTDASH_MAIL_DIR: join(root, 'mail'),
    });
    // What it writes passes the settings schema (the services' strict check at start).
    expect(() => parseSettings(env, { strict: true })).not.toThrow();
  });

  it('keeps what is set explicitly (an empty value counts as unset), and the default root is .local/embedded', () => {
    const env: NodeJS.ProcessEnv = { HOTDASH_MODE: 'embedded', HOTDASH_STATE_STORE: 'redis', HOTDASH_JOB_RUNNER: '' };
    const applied = applyRunMode(env);
    expect(applied.root).toBe(resolve('.local', 'embedded'));
    expect([env.HOTDASH_STATE_STORE, env.HOTDASH_JOB_RUNNER]).toEqual(['redis', 'embedded']);
    expect(applied.filled.HOTDASH_STATE_STORE).toBeUndefined();
    expect(Object.keys(applied.filled).sort()).toEqual(Object.keys(embeddedDefaults(applied.root!)).filter((k) => k !== 'HOTDASH_STATE_STORE').sort());
  });

  it('stack (the default of anything but the launcher): changes nothing but HOTDASH_MODE', () => {
    const env: NodeJS.ProcessEnv = { HOTDASH_KAFKA_CLIENT: 'kafkajs' };
    expect(applyRunMode(env)).toEqual({ mode: 'stack', filled: {} });
    expect(env).toEqual({ HOTDASH_KAFKA_CLIENT: 'kafkajs', HOTDASH_MODE: 'stack' });
    const launched: NodeJS.ProcessEnv = { HOTDASH_MODE: 'stack' };
    expect(applyRunMode(launched, 'embedded').mode).toBe('stack');
    expect(launched.HOTDASH_KAFKA_CLIENT).toBeUndefined();
  });

  it('refuses a mode that is not one', () => {
    expect(() => applyRunMode({ HOTDASH_MODE: 'hybrid' })).toThrow(/HOTDASH_MODE/);
  });
});
