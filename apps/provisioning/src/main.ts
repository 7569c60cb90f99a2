// Provisioning service: HTTP API for tenant sign-up and the tenant lifecycle, and the saga worker;
// also identity's operators API (operators and invitations are identity's; the gateway calls them here).
// Its events (control outbox) and invitation mail (shards' mail outboxes) go out through apps/relay.
// First of all: tracing (a no-op without OTEL_* settings) must patch the modules it instruments before they load.
import './tracing';
import 'reflect-metadata';
// First: the environment is checked before any module that reads it is loaded.
import { config } from './service-config';
import { Module } from '@nestjs/common';
import { DatabaseModule, Databases } from '@hotdash/platform-db';
import { createHttpApp, HealthModule, Readiness, runService, type RunningService } from '@hotdash/platform-http';
import { OperatorsModule } from '@hotdash/identity';
import { SagaEngine } from '@hotdash/platform-jobs';
import { ExportsModule, ProvisioningModule } from '@hotdash/provisioning';
import { SubjectExport } from '@hotdash/drafts';
import { SubjectRefs } from '@hotdash/platform-crypto';
import { TenantAuditChainModule } from './tenant-audit-chain';

// Readiness: postgres (below); redis (its client, the operators' client, the saga queue) and weaviate are registered by ProvisioningModule and OperatorsModule.
// Data exports (issue 16): a data subject's rows are read by their owner's code (drafts' SubjectExport), bound here.
const exportsModule = ExportsModule.register({ subjects: ({ db, cipher, keyring }) => new SubjectExport(db, cipher, new SubjectRefs(keyring)) });

@Module({ imports: [HealthModule.forRoot(), DatabaseModule.forRoot(config), TenantAuditChainModule, ProvisioningModule, OperatorsModule.forService('provisioning'), exportsModule] })
class ProvisioningAppModule {}

/** The provisioning service's start: its app and what to close on shutdown (runService, or apps/embedded with every service in one process). */
export async function startProvisioning(): Promise<RunningService> {
  // Sign-ups may carry initial knowledge-base documents.
  const app = await createHttpApp(ProvisioningAppModule, { bodyLimit: '1mb' });
  const dbs = app.get(Databases);
  app.get(Readiness).add('postgres', (ms) => dbs.ping(ms));
  const engine = app.get(SagaEngine);
  engine.startWorker();
  const resumed = await engine.resume();
  if (resumed) console.log(`provisioning resumed ${resumed} unfinished saga(s)`);
  return { app };
}

if (require.main === module) void runService('provisioning', config.port, startProvisioning);
