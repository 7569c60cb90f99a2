// Tracing, started before anything it instruments is loaded: main.ts imports this file first
// (services run as `node -r @swc-node/register apps/drafts/src/main.ts`, and swc keeps the order of
// imports, so this runs before http, pg, ioredis, undici and Nest are required). Off, and the SDK
// not loaded, unless the OTEL_* variables configure an exporter (docs/observability.md, Traces).
import { startTracing } from '@hotdash/platform-telemetry';

startTracing('drafts');
