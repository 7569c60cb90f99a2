import { join, resolve } from 'node:path';
import { readSetting, type PlatformConfig } from '@hotdash/platform-config';
import { BullmqJobs } from './bullmq.jobs';
import { EmbeddedJobs } from './embedded.jobs';
import type { JobsPort } from './jobs.port';

/** The file of the embedded runner under HOTDASH_JOBS_DIR. */
export function embeddedJobsFile(): string {
  return join(resolve(readSetting('HOTDASH_JOBS_DIR')), 'jobs.sqlite');
}

const shared = new Map<string, EmbeddedJobs>();

/**
 * The jobs port HOTDASH_JOB_RUNNER names: BullMQ on the configured Redis, or the embedded runner.
 * The embedded runner is one per process and file (every module of the process shares it: its
 * workers wake on each other's adds); closing it is the process's shutdown, `closeEmbeddedJobs`.
 */
export function jobsFromConfig(config: PlatformConfig): JobsPort {
  if (readSetting('HOTDASH_JOB_RUNNER') !== 'embedded') return new BullmqJobs(config);
  const file = embeddedJobsFile();
  let jobs = shared.get(file);
  if (!jobs) shared.set(file, (jobs = new EmbeddedJobs({ file })));
  return unclosable(jobs);
}

/** Closes the process's embedded runners (their workers finish their running jobs first). */
export async function closeEmbeddedJobs(): Promise<void> {
  const all = [...shared.values()];
  shared.clear();
  await Promise.all(all.map((j) => j.close()));
}

/** A view of the shared runner whose close() leaves it open for the process's other modules. */
function unclosable(jobs: EmbeddedJobs): JobsPort {
  return { kind: jobs.kind, queue: (n) => jobs.queue(n), worker: (n, p, o) => jobs.worker(n, p, o), close: async () => undefined };
}
