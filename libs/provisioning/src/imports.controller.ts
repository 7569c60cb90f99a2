import { Body, Controller, Get, Inject, Param, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { ImportPlan, ImportRun } from '@hotdash/contracts';
import { actorOf, CallableBy, CurrentCaller, InternalAuthGuard, InternalCaller } from '@hotdash/platform-auth';
import { parseUuidParam } from '@hotdash/platform-http';
import { ImportPilotHandler } from './use-cases/import-pilot/import-pilot.handler';

/**
 * Pilot imports, for the ops team only (the gateway's /ops/imports and /ops/imports/{id}). Shapes
 * and problem codes: libs/contracts/src/imports.api.ts; what a pilot is: docs/pilot.md.
 */
@Controller()
@UseGuards(InternalAuthGuard)
@CallableBy('platform')
export class ImportsController {
  constructor(@Inject(ImportPilotHandler) private readonly imports: ImportPilotHandler) {}

  /** Starts an import (202 with the run, which goes on as a saga; follow it at imports/:importId), or answers a dry run (200 with the plan). */
  @Post('imports')
  async start(@Body() body: unknown, @CurrentCaller() caller: InternalCaller, @Res({ passthrough: true }) reply: FastifyReply): Promise<ImportPlan | ImportRun> {
    const answer = await this.imports.start(body, actorOf(caller));
    void reply.status('dryRun' in answer ? 200 : 202);
    return answer;
  }

  /** An import: its status, phase, progress, steps (with what each reported) and error. */
  @Get('imports/:importId')
  run(@Param('importId') id: string): Promise<ImportRun> {
    return this.imports.run(parseUuidParam(id, 'importId'));
  }
}
