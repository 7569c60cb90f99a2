import { Body, Controller, Get, Inject, Param, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { KeyRotationDryRun, KeyRotationRun, KeysStatus } from '@hotdash/contracts';
import { actorOf, CallableBy, CurrentCaller, InternalAuthGuard, InternalCaller } from '@hotdash/platform-auth';
import { parseUuidParam } from '@hotdash/platform-http';
import { KeyRotations } from './keys/key-rotations';

/**
 * The tenants' data keys and the rotation of the key-encryption key, for the ops team only (the
 * gateway's /ops/keys, /ops/keys/rotations and /ops/keys/rotations/{id}). Shapes and problem codes:
 * libs/contracts/src/keys.api.ts.
 */
@Controller('keys')
@UseGuards(InternalAuthGuard)
@CallableBy('platform')
export class KeysController {
  constructor(@Inject(KeyRotations) private readonly keys: KeyRotations) {}

  /** Live keys per KEK id and the current KEK. */
  @Get()
  status(): Promise<KeysStatus> {
    return this.keys.status();
  }

  /** A dry run answers 200 with the counts; a real run 202 with the run, which goes on as a saga (follow it at rotations/:id). */
  @Post('rotations')
  async start(@Body() body: unknown, @CurrentCaller() caller: InternalCaller, @Res({ passthrough: true }) reply: FastifyReply): Promise<KeyRotationDryRun | KeyRotationRun> {
    const answer = await this.keys.start(body, actorOf(caller));
    void reply.status('dryRun' in answer ? 200 : 202);
    return answer;
  }

  /** A run: its counts and how it ended. */
  @Get('rotations/:id')
  run(@Param('id') id: string): Promise<KeyRotationRun> {
    return this.keys.get(parseUuidParam(id, 'id'));
  }
}
