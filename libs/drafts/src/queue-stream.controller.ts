import type { ServerResponse } from 'node:http';
import { Controller, Get, Inject, Logger, Res, UseGuards, UseInterceptors } from '@nestjs/common';
import { SSE_HEARTBEAT, sseFrame, QueueStreamEvents } from '@hotdash/contracts';
import { Allow, CurrentPrincipal, InternalAuthGuard, Principal, TenantContextInterceptor } from '@hotdash/platform-auth';
import { ProblemException } from '@hotdash/platform-http';
import { QueueFeed, QueueSink } from './queue-feed';

/** The headers of an event stream: never cached or transformed, not buffered by a proxy; its connection closes with it (nothing left for shutdown to wait on). */
export const EVENT_STREAM_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no', connection: 'close' } as const;

/** A subscriber's sink on a Node response: frames while it is open, `closed` and the end once. */
export function responseSink(res: ServerResponse): QueueSink {
  const open = () => !res.writableEnded && !res.destroyed;
  return {
    send: (event, data) => void (open() && res.write(sseFrame(event, data))),
    heartbeat: () => void (open() && res.write(SSE_HEARTBEAT)),
    close: (reason) => {
      if (!open()) return;
      res.write(sseFrame(QueueStreamEvents.CLOSED, { reason }));
      res.end();
    },
  };
}

/**
 * The caller's queue changes as Server-Sent Events (behind the gateway's GET /queue/stream): ids and
 * kinds of the tickets the caller may see, never their text (queue-feed.ts).
 */
@Controller('internal/queue')
@UseGuards(InternalAuthGuard)
@UseInterceptors(TenantContextInterceptor)
export class QueueStreamController {
  private readonly logger = new Logger('queue-stream');

  constructor(@Inject(QueueFeed) private readonly feed: QueueFeed) {}

  @Get('stream')
  @Allow('drafts:read')
  async stream(@CurrentPrincipal() p: Principal, @Res() res: ServerResponse): Promise<void> {
    // Refused before the stream starts (this instance shutting down): a problem answer, not an event stream.
    if (!this.feed.accepting) throw new ProblemException(503, 'shutting-down', 'Shutting down', 'This instance is shutting down: reconnect.');
    res.writeHead(200, EVENT_STREAM_HEADERS);
    res.write('retry: 2000\n\n');
    const sink = responseSink(res);
    let unsubscribe: () => void;
    try {
      unsubscribe = await this.feed.subscribe(p, sink);
    } catch (err) {
      this.logger.warn(`queue stream of tenant ${p.tenantId} not started: ${(err as Error).message}`);
      return sink.close('unavailable');
    }
    res.on('close', unsubscribe);
    if (res.destroyed) unsubscribe();
  }
}
