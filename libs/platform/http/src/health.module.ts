import { DynamicModule, Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller';
import { Readiness, ReadinessOptions } from './readiness';

/**
 * Liveness and readiness for a service (`GET /health`, `GET /health/ready`), global so that every
 * module can register the probes of the clients it makes (`readinessProbe`) with the one Readiness.
 * Terminus' own error log is off: Readiness logs each transition once instead.
 */
@Global()
@Module({})
export class HealthModule {
  static forRoot(options: ReadinessOptions = {}): DynamicModule {
    return {
      module: HealthModule,
      imports: [TerminusModule.forRoot({ logger: false })],
      controllers: [HealthController],
      providers: [{ provide: Readiness, useFactory: () => new Readiness(options) }],
      exports: [Readiness],
    };
  }
}
