import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import {
  deadLetterDetail,
  deadLetterList,
  deadLetterParams,
  deadLetterReplayResult,
  deadLetterReplays,
  DLQ_TOPICS,
  DlqProblems,
  listDeadLettersQuery,
  parseDeadLetterId,
  replayDeadLetterBody,
  replayDeadLettersBody,
} from '@hotdash/contracts';
import { CurrentOps, OpsPrincipal, OpsRoute } from '@hotdash/platform-auth';
import { ApiDoc, ProblemException } from '@hotdash/platform-http';
import { passThrough, plainQuery, ServiceClient } from './service-client';

/** The service path of the dead letter a public path names; 400 invalid-dead-letter-id when it names none (only the dead-letter topics are readable). */
function deadLetterPath(topic: string, partition: string, offset: string): string {
  const ref = parseDeadLetterId(`${topic}/${partition}/${offset}`);
  if (!ref) throw new ProblemException(400, DlqProblems.INVALID_ID, 'Invalid dead letter id', `${topic}/${partition}/${offset} is not a dead letter's id (<dlq topic>/<partition>/<offset>, a topic of ${DLQ_TOPICS.join(', ')}).`);
  return `/dead-letters/${encodeURIComponent(ref.topic)}/${ref.partition}/${ref.offset}`;
}

const KAFKA = { 503: `Kafka could not be read or written (${DlqProblems.KAFKA_UNAVAILABLE})` };

/**
 * Dead letters for the ops team (served by provisioning): the records a consumer gave up on (on
 * `<topic>.dlq`, with their original headers and the error), and replays that send one back to its
 * original topic, through every consumer's inbox (docs/operations.md "Dead letters"). Platform
 * operators' tokens only. Shapes and codes: libs/contracts/src/dlq.api.ts.
 */
@Controller('ops/dead-letters')
@OpsRoute()
export class OpsDeadLettersController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({
    summary:
      'Ops: dead letters, newest first, paged (nextCursor), filtered by topic (hotdash.tickets or hotdash.tickets.dlq), consumer, error code and tenant: each with its id (<dlq topic>/<partition>/<offset>), event type, tenant, consumer, error code, failed-at, attempts, and whether it was replayed',
    query: listDeadLettersQuery,
    response: deadLetterList,
    problems: { 400: `${DlqProblems.UNKNOWN_TOPIC}, ${DlqProblems.INVALID_CURSOR}`, ...KAFKA },
  })
  @Get()
  list(@CurrentOps() ops: OpsPrincipal, @Query() query: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', '/dead-letters', ops, plainQuery(query)));
  }

  @ApiDoc({
    summary:
      'Ops: replay the dead letters named (ids) or every one matching a filter (at most max, default 100; oldest first), or list them (dryRun: true). Each is sent back to its original topic with its value and original headers plus hotdash-replayed-from; consumers’ inboxes skip what they applied. Already replayed ones are left out (already-replayed) unless force',
    body: replayDeadLettersBody,
    response: deadLetterReplays,
    problems: { 400: `${DlqProblems.INVALID_ID}, ${DlqProblems.UNKNOWN_TOPIC}`, ...KAFKA },
  })
  @Post('replays')
  @HttpCode(200)
  replayMany(@CurrentOps() ops: OpsPrincipal, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', '/dead-letters/replays', ops, { body: body ?? {} }));
  }

  @ApiDoc({
    summary: 'Ops: one dead letter: every header (original and hotdash-dlq-*), the consumer’s error, the envelope as written (personal fields stay encrypted), and its replays',
    params: deadLetterParams,
    response: deadLetterDetail,
    problems: { 400: DlqProblems.INVALID_ID, 404: `No dead letter at this offset (${DlqProblems.NOT_FOUND})`, ...KAFKA },
  })
  @Get(':topic/:partition/:offset')
  show(@CurrentOps() ops: OpsPrincipal, @Param('topic') topic: string, @Param('partition') partition: string, @Param('offset') offset: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', deadLetterPath(topic, partition, offset), ops));
  }

  @ApiDoc({
    summary:
      'Ops: replay one dead letter to its original topic (same value and original headers, plus hotdash-replayed-from), recorded as an ops action; consumers’ inboxes skip what they applied. A second replay is refused (409) unless force',
    params: deadLetterParams,
    body: replayDeadLetterBody,
    response: deadLetterReplayResult,
    problems: {
      400: DlqProblems.INVALID_ID,
      404: `No dead letter at this offset (${DlqProblems.NOT_FOUND})`,
      409: `Replayed already (${DlqProblems.ALREADY_REPLAYED}): when and by whom in the detail; give force to replay again`,
      422: `The record names no platform topic to go back to (${DlqProblems.NOT_REPLAYABLE})`,
      ...KAFKA,
    },
  })
  @Post(':topic/:partition/:offset/replay')
  @HttpCode(200)
  replay(@CurrentOps() ops: OpsPrincipal, @Param('topic') topic: string, @Param('partition') partition: string, @Param('offset') offset: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', `${deadLetterPath(topic, partition, offset)}/replay`, ops, { body: body ?? {} }));
  }
}
