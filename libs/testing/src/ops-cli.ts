import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './processes';

/** What one run of `hotdash-ops` left: its exit code and both streams. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const BIN = join(REPO_ROOT, 'apps', 'ops-cli', 'bin', 'hotdash-ops.js');

/**
 * Runs the bin as a user would (its shebang, the launcher, the TypeScript entry) with the spec's
 * own config home (never the real one) and gateway; the caller's HOTDASH_OPS_* settings are not
 * passed on unless the call's `env` sets them.
 */
export function opsCli(configHome: string, gateway: string, timeoutMs = 120_000): (args: string[], env?: Record<string, string | undefined>) => Promise<CliResult> {
  return (args, env = {}) => {
    const base: Record<string, string | undefined> = { ...process.env, HOME: configHome, XDG_CONFIG_HOME: configHome, HOTDASH_GATEWAY_URL: gateway, NO_COLOR: '1' };
    delete base.HOTDASH_OPS_TOKEN;
    delete base.HOTDASH_OPS_PASSWORD;
    delete base.HOTDASH_OPS_PROGRESS;
    return new Promise((resolve) => {
      execFile(BIN, args, { env: { ...base, ...env } as NodeJS.ProcessEnv, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  };
}

/** The one JSON document a --json command printed (fails when stdout holds anything else). */
export function cliDoc(r: CliResult): Record<string, unknown> {
  try {
    return JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`stdout is not one JSON document (exit ${r.code}):\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}
