// Tracing for the whole process (a no-op, the SDK not loaded, without OTEL_* settings), started after
// the run mode and before anything it instruments is loaded (see apps/relay/src/tracing.ts).
import { startTracing } from '@hotdash/platform-telemetry';

startTracing('embedded', { edge: true });
