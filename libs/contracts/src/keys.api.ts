// Tenant data keys and the rotation of the key-encryption key (KEK) as an ops API (gateway: GET
// /ops/keys, POST /ops/keys/rotations, GET /ops/keys/rotations/{id}; served by provisioning): the
// request body, the answers and the stable problem codes, one definition for the service, the
// gateway's OpenAPI document and the ops command line. The procedure: docs/operations.md
// ("Rotating the key-encryption key").
import { z } from 'zod';
import { uuidSchema } from './envelope';

/** A KEK id's form (as the KMS's master key ids): letters, digits, '.', '_', '-'; at most 64. */
export const KEK_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Stable codes of the keys API's problems (RFC 9457 `code`). Every refusal changes nothing. */
export const KeyProblems = {
  /** 422: no data key was ever wrapped under `fromKekId`, and it is not the KMS's current KEK either. */
  KEK_UNKNOWN: 'kek-unknown',
  /** 422: `fromKekId` is the KMS's current KEK: its keys need no re-wrap. */
  KEK_IS_CURRENT: 'kek-is-current',
  /** 409: a rotation is running: follow it (its id is in the detail). */
  ROTATION_RUNNING: 'kek-rotation-running',
  /** A run's `code` when it stopped: a live key is wrapped under a KEK the provisioning service's KMS does not hold (put that master key back). */
  KEK_NOT_CONFIGURED: 'kek-not-configured',
  /** A run's `code` when it stopped: the provisioning service's current KEK is no longer the one the run re-wraps under (restart every instance with the same keys). */
  KEK_CHANGED: 'kek-changed',
  /** A run's `code` when it stopped for another reason (a corrupted key: its tenant is named in `error`). */
  ROTATION_FAILED: 'kek-rotation-failed',
} as const;
export type KeyProblemCode = (typeof KeyProblems)[keyof typeof KeyProblems];

/** Live data keys under one KEK. */
export const kekKeyCount = z.object({ kekId: z.string(), keys: z.number().int(), current: z.boolean() });
export type KekKeyCount = z.infer<typeof kekKeyCount>;

/** GET /ops/keys: the KMS's current KEK and the live data keys per KEK id (destroyed keys counted apart). */
export const keysStatus = z.object({
  currentKekId: z.string(),
  keks: z.array(kekKeyCount),
  /** Live keys not under the current KEK (what a rotation re-wraps). */
  notCurrent: z.number().int(),
  /** Destroyed (crypto-shredded) keys: nothing left to re-wrap. */
  destroyed: z.number().int(),
  /** The running rotation's id, if one runs. */
  runningRotation: uuidSchema.nullable(),
});
export type KeysStatus = z.infer<typeof keysStatus>;

/**
 * Body of POST /ops/keys/rotations. `fromKekId` re-wraps only the keys under that KEK (default:
 * every live key not under the current one). `dryRun` is required (a call that re-wraps every key
 * of the platform says so, as a rebalance's does; an empty body starts nothing): true only counts
 * the keys per KEK (200), false starts the run (202).
 */
export const startKeyRotationBody = z
  .object({
    fromKekId: z.string().regex(KEK_ID, 'fromKekId must be a KEK id (letters, digits, ".", "_", "-"; at most 64)').optional(),
    dryRun: z.boolean({ message: 'dryRun must be true or false' }),
  })
  .strict();
export type StartKeyRotationBody = z.infer<typeof startKeyRotationBody>;

/** Per KEK id the keys were under: how many the run re-wraps and has re-wrapped. */
export const rotationKekProgress = z.object({ kekId: z.string(), total: z.number().int(), rewrapped: z.number().int() });
export type RotationKekProgress = z.infer<typeof rotationKekProgress>;

/** Answer of a dry run (200): the keys a run would re-wrap, per KEK id; nothing was changed. */
export const keyRotationDryRun = z.object({
  dryRun: z.literal(true),
  toKekId: z.string(),
  fromKekId: z.string().nullable(),
  total: z.number().int(),
  keks: z.array(z.object({ kekId: z.string(), keys: z.number().int() })),
});
export type KeyRotationDryRun = z.infer<typeof keyRotationDryRun>;

/** A run's state: `running`; `succeeded` (no live key of the selection is left under an old KEK); `failed` (stopped: `code` and `error` say why and what to do). */
export const KeyRotationStatuses = ['running', 'succeeded', 'failed'] as const;
export type KeyRotationStatus = (typeof KeyRotationStatuses)[number];

/** A rotation run (answer of POST /ops/keys/rotations, 202; GET /ops/keys/rotations/{id}). */
export const keyRotationRun = z.object({
  id: uuidSchema,
  status: z.enum(KeyRotationStatuses),
  /** Who started it: `ops:<operator id>`. */
  actor: z.string(),
  fromKekId: z.string().nullable(),
  toKekId: z.string(),
  /** Live keys to re-wrap when the run started. */
  total: z.number().int(),
  rewrapped: z.number().int(),
  /** Live keys of the selection still under an old KEK now. */
  remaining: z.number().int(),
  keks: z.array(rotationKekProgress),
  code: z.string().nullable(),
  error: z.string().nullable(),
  startedAt: z.iso.datetime({ offset: true }),
  updatedAt: z.iso.datetime({ offset: true }),
  finishedAt: z.iso.datetime({ offset: true }).nullable(),
});
export type KeyRotationRun = z.infer<typeof keyRotationRun>;

/** Path parameters of /ops/keys/rotations/{id}. */
export const keyRotationParams = z.object({ id: uuidSchema }).strict();
