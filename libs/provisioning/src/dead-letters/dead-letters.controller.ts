import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, UseGuards } from '@nestjs/common';
import { DLQ_TOPICS, DlqProblems, parseDeadLetterId, type DeadLetterDetail, type DeadLetterList, type DeadLetterRef, type DeadLetterReplayResult, type DeadLetterReplays } from '@hotdash/contracts';
import { actorOf, CallableBy, CurrentCaller, InternalAuthGuard, InternalCaller } from '@hotdash/platform-auth';
import { ProblemException } from '@hotdash/platform-http';
import { DeadLetters } from './dead-letters';

/** The dead letter a path names (400 invalid-dead-letter-id otherwise: only the platform's dead-letter topics are read). */
export function deadLetterRefOf(topic: string, partition: string, offset: string): DeadLetterRef {
  const ref = parseDeadLetterId(`${topic}/${partition}/${offset}`);
  if (!ref) throw new ProblemException(400, DlqProblems.INVALID_ID, 'Invalid dead letter id', `${topic}/${partition}/${offset} is not a dead letter's id (<dlq topic>/<partition>/<offset>, a topic of ${DLQ_TOPICS.join(', ')}).`);
  return ref;
}

/**
 * Dead letters, for the ops team only (the gateway's /ops/dead-letters…). Shapes and problem codes:
 * libs/contracts/src/dlq.api.ts.
 */
@Controller('dead-letters')
@UseGuards(InternalAuthGuard)
@CallableBy('platform')
export class DeadLettersController {
  constructor(@Inject(DeadLetters) private readonly deadLetters: DeadLetters) {}

  /** A page of dead letters, newest first. */
  @Get()
  list(@Query() query: unknown): Promise<DeadLetterList> {
    return this.deadLetters.list(query);
  }

  /** Replays the dead letters named or matching a filter (a dry run lists them). */
  @Post('replays')
  @HttpCode(200)
  replayMany(@Body() body: unknown, @CurrentCaller() caller: InternalCaller): Promise<DeadLetterReplays> {
    return this.deadLetters.replayMany(body, actorOf(caller));
  }

  /** One dead letter: its headers, its error and its envelope as written. */
  @Get(':topic/:partition/:offset')
  show(@Param('topic') topic: string, @Param('partition') partition: string, @Param('offset') offset: string): Promise<DeadLetterDetail> {
    return this.deadLetters.show(deadLetterRefOf(topic, partition, offset));
  }

  /** Replays one dead letter (409 when replayed already, unless force). */
  @Post(':topic/:partition/:offset/replay')
  @HttpCode(200)
  replay(@Param('topic') topic: string, @Param('partition') partition: string, @Param('offset') offset: string, @Body() body: unknown, @CurrentCaller() caller: InternalCaller): Promise<DeadLetterReplayResult> {
    return this.deadLetters.replayOne(deadLetterRefOf(topic, partition, offset), body, actorOf(caller));
  }
}
