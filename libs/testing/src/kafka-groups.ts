import { Kafka, logLevel } from 'kafkajs';
import { loadConfig } from '@hotdash/platform-config';

/**
 * Deletes the consumer groups a spec made (after its consumers have closed: Kafka refuses to delete
 * a group with members). Left behind, each group keeps its offsets, and a long-lived broker collects
 * hundreds of them. A group that is already gone is fine; any other failure is reported, not thrown,
 * so a spec's clean-up goes on.
 */
export async function deleteConsumerGroups(groups: string[]): Promise<void> {
  if (groups.length === 0) return;
  const admin = new Kafka({ clientId: 'spec-cleanup', brokers: loadConfig().kafka.brokers, logLevel: logLevel.NOTHING }).admin();
  try {
    await admin.connect();
    await admin.deleteGroups(groups);
  } catch (err) {
    // kafkajs reports each group's error code; 69 is GROUP_ID_NOT_FOUND (already gone).
    const codes = (err as { groups?: { errorCode: number }[] }).groups?.map((g) => g.errorCode) ?? [-1];
    if (!codes.every((c) => c === 0 || c === 69)) console.warn(`deleting consumer groups ${groups.join(', ')} failed: ${(err as Error).message}`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
