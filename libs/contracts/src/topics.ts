/** One Kafka topic per domain, keyed by tenantId so one tenant's events stay in order. */
export const Topics = {
  TENANTS: 'hotdash.tenants',
  TICKETS: 'hotdash.tickets',
  DRAFTS: 'hotdash.drafts',
  KNOWLEDGE: 'hotdash.knowledge',
  USAGE: 'hotdash.usage',
  AUDIT: 'hotdash.audit',
  ACCESS: 'hotdash.access',
} as const;

export type Topic = (typeof Topics)[keyof typeof Topics];

export const ALL_TOPICS: readonly Topic[] = Object.values(Topics);

/** Dead-letter topic of a topic: events a consumer group gave up on, with their headers and the error. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}
