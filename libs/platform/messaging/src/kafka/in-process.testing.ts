import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as nodePath from 'node:path';
import type { KafkaClientName } from './index';

/**
 * For the contract specs that run against every adapter: while started for `in-process`,
 * createKafkaClient's defaults (HOTDASH_KAFKA_CLIENT, HOTDASH_BUS_DIR) name the in-process bus in a
 * fresh temporary directory, so a helper that makes its own client (KafkaProbe) shares the spec's
 * bus; stop() puts the environment back and removes the directory (after the clients closed). For a
 * Kafka client both are no-ops.
 */
export function busForSpec(name: KafkaClientName): { start(): Promise<void>; stop(): Promise<void> } {
  let saved: { client?: string; dir?: string } | undefined;
  let dir: string | undefined;
  return {
    async start() {
      if (name !== 'in-process' || saved) return;
      dir = await fs.mkdtemp(nodePath.join(tmpdir(), 'hotdash-bus-spec-'));
      saved = { client: process.env.HOTDASH_KAFKA_CLIENT, dir: process.env.HOTDASH_BUS_DIR };
      process.env.HOTDASH_KAFKA_CLIENT = 'in-process';
      process.env.HOTDASH_BUS_DIR = dir;
    },
    async stop() {
      if (!saved) return;
      const restore = (key: string, value: string | undefined) => (value === undefined ? delete process.env[key] : (process.env[key] = value));
      restore('HOTDASH_KAFKA_CLIENT', saved.client);
      restore('HOTDASH_BUS_DIR', saved.dir);
      saved = undefined;
      if (dir) await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
