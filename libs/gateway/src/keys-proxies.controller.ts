import { Body, Controller, Get, HttpCode, Inject, Param, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { KeyProblems, keyRotationParams, keyRotationRun, keysStatus, startKeyRotationBody } from '@hotdash/contracts';
import { CurrentOps, OpsPrincipal, OpsRoute } from '@hotdash/platform-auth';
import { ApiDoc, parseUuidParam } from '@hotdash/platform-http';
import { passThrough, ServiceClient } from './service-client';

/**
 * The tenants' data keys for the ops team (served by provisioning): live keys per key-encryption key
 * (KEK), and the rotation that re-wraps them under the KMS's current KEK in batches, as a saga that
 * resumes after a crash (docs/operations.md "Rotating the key-encryption key"). Platform operators'
 * tokens only. Shapes and codes: libs/contracts/src/keys.api.ts.
 */
@Controller('ops/keys')
@OpsRoute()
export class OpsKeysController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({
    summary: 'Ops: the tenants’ live data keys per key-encryption key id (which one is current), the destroyed keys, and the running rotation',
    response: keysStatus,
  })
  @Get()
  status(@CurrentOps() ops: OpsPrincipal, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', '/keys', ops));
  }

  @ApiDoc({
    summary:
      'Ops: count (dryRun: true, 200: the keys per KEK id a run would re-wrap) or start (dryRun: false, 202 with the run; follow it at /ops/keys/rotations/{id}) the re-wrap of every live tenant data key not under the current key-encryption key (fromKekId: only those under that KEK). Destroyed keys are skipped; a key under a KEK the KMS no longer holds stops the run (kek-not-configured)',
    body: startKeyRotationBody,
    status: 202,
    response: keyRotationRun,
    problems: {
      409: `A rotation is running (${KeyProblems.ROTATION_RUNNING}): follow it (its id is in the detail)`,
      422: `${KeyProblems.KEK_UNKNOWN} (no key was ever wrapped under fromKekId), ${KeyProblems.KEK_IS_CURRENT} (fromKekId is the current KEK)`,
    },
  })
  @Post('rotations')
  @HttpCode(202)
  start(@CurrentOps() ops: OpsPrincipal, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', '/keys/rotations', ops, { body: body ?? {} }));
  }

  @ApiDoc({
    summary: 'Ops: a key rotation: status (running, succeeded, failed), keys to re-wrap, re-wrapped and remaining in all and per KEK id, and why it stopped (code and what to do)',
    params: keyRotationParams,
    response: keyRotationRun,
    problems: { 404: 'No key rotation of this id (not-found)' },
  })
  @Get('rotations/:id')
  runById(@CurrentOps() ops: OpsPrincipal, @Param('id') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/keys/rotations/${parseUuidParam(id, 'id')}`, ops));
  }
}
