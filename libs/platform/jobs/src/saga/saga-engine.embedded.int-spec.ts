// The saga engine's specs again, on the embedded mode's job runner (issue 18: "resumable sagas that
// survive a restart of the process, because their state is in the database"): the same file, run
// with HOTDASH_JOB_RUNNER=embedded and a jobs file of its own, so every step, retry, compensation
// and the repeated SIGKILLs of the worker process go through the SQLite runner instead of BullMQ.
/* eslint-disable @typescript-eslint/no-require-imports */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'hotdash-saga-jobs-'));
process.env.HOTDASH_JOB_RUNNER = 'embedded';
process.env.HOTDASH_JOBS_DIR = dir;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

require('./saga-engine.int-spec');
