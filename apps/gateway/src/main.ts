// Gateway: the one public HTTP API (NestJS on Fastify). Decides who the caller is and which tenant
// they act for from the credential alone; services behind it join as they are built.
// First of all: tracing (a no-op without OTEL_* settings) must patch the modules it instruments before they load.
import './tracing';
import 'reflect-metadata';
// First: the environment is checked before any module that reads it is loaded.
import { config } from './service-config';
import { Module } from '@nestjs/common';
import { KNOWLEDGE_UPLOAD_TYPES } from '@hotdash/contracts';
import { AuthModule } from '@hotdash/platform-auth';
import { DatabaseModule, Databases } from '@hotdash/platform-db';
import { createFastifyHttpApp, HealthModule, Readiness, runService, type RunningService } from '@hotdash/platform-http';
import { GatewayModule } from '@hotdash/gateway';
import { IdentityModule } from '@hotdash/identity';

// Readiness: postgres (below) and redis (AuthModule's client: limits, revocations, idempotency keys).
@Module({ imports: [HealthModule.forRoot(), DatabaseModule.forRoot(config), AuthModule.forRoot(config), IdentityModule, GatewayModule] })
export class GatewayAppModule {}

/** The gateway service's start: its app and what to close on shutdown (runService, or apps/embedded with every service in one process). */
export async function startGateway(): Promise<RunningService> {
  // Behind a load balancer, HOTDASH_TRUSTED_PROXIES (comma-separated addresses or CIDRs) lets the
  // gateway take the client address from X-Forwarded-For (per-address limits, the audit of access).
  const trustedProxies = [...config.settings.HOTDASH_TRUSTED_PROXIES];
  // Knowledge-base uploads are the document itself; every other body is JSON (each route's @ApiDoc says which and how large).
  const app = await createFastifyHttpApp(GatewayAppModule, { trustedProxies, rawTypes: KNOWLEDGE_UPLOAD_TYPES });
  const dbs = app.get(Databases);
  app.get(Readiness).add('postgres', (ms) => dbs.ping(ms));
  return { app };
}

if (require.main === module) void runService('gateway', config.port, startGateway);
