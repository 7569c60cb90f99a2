import { Controller, Get, Inject, Optional, Res, ServiceUnavailableException } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { HealthCheck, HealthCheckService, HealthIndicatorService, type HealthCheckResult, type HealthIndicatorResult } from '@nestjs/terminus';
import { NotInApi } from './api-doc';
import { ProblemException } from './problem';
import { Readiness } from './readiness';

/**
 * Liveness (`GET /health`: the process is up and serving HTTP, nothing else is checked) and
 * readiness (`GET /health/ready`: the dependencies the service registered with its Readiness, with
 * @nestjs/terminus). Served by the HealthModule; the gateway's auth treats both as public routes.
 */
@Controller('health')
export class HealthController {
  constructor(
    // Optional: an app that lists only this controller (a spec's) still has its liveness route.
    @Optional() @Inject(Readiness) private readonly readiness?: Readiness,
    @Optional() @Inject(HealthCheckService) private readonly checks?: HealthCheckService,
    @Optional() @Inject(HealthIndicatorService) private readonly indicators?: HealthIndicatorService,
    @Optional() @Inject(HttpAdapterHost) private readonly adapter?: HttpAdapterHost,
  ) {}

  /** Liveness: the process is up and serving HTTP; no dependency is checked (a store's outage must not get the process restarted). */
  @Get()
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /**
   * Readiness: 200 with terminus' body (`status`, `info`, `error`, `details`, one entry per
   * dependency) when every dependency answers, 503 with the same body, each failed dependency with
   * its `message`, when one does not (or while the app shuts down). Answered here, not thrown: the
   * problem+json filter would replace the per-dependency body.
   */
  @Get('ready')
  @HealthCheck()
  @NotInApi()
  async ready(@Res() res: unknown): Promise<void> {
    const { readiness, checks, indicators, adapter } = this;
    if (!readiness || !checks || !indicators || !adapter) throw new ProblemException(503, 'readiness-not-configured', 'Readiness not configured', 'This app has no HealthModule.');
    let status = 200;
    let body: HealthCheckResult;
    try {
      body = await checks.check(
        readiness.names().map((name) => async (): Promise<HealthIndicatorResult> => {
          const state = await readiness.check(name);
          const indicator = indicators.check(name);
          return state.up ? indicator.up(state.details) : indicator.down(state.details);
        }),
      );
    } catch (err) {
      if (!(err instanceof ServiceUnavailableException)) throw err;
      status = 503;
      body = err.getResponse() as HealthCheckResult;
    }
    adapter.httpAdapter.reply(res, body, status);
  }
}
