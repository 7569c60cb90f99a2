import { parseTenantId } from '@hotdash/contracts';
import { currentTenantContext, tryCurrentTenantContext } from '@hotdash/platform-tenancy';
import { QueueName } from './queues';
import { inTenantJob, jobCorrelation } from './tenant-job';

const A = parseTenantId('01a2233e-13de-71a6-af01-2c9e62e66eb6');

describe('tenant jobs', () => {
  it('run in the tenant context of their data, with the correlation of what queued them', async () => {
    const seen = await inTenantJob(QueueName.KNOWLEDGE_INGESTION, { tenantId: A, correlationId: 'corr-1' }, async () => currentTenantContext());
    expect(seen).toEqual({ tenantId: A, actorId: `job:${QueueName.KNOWLEDGE_INGESTION}`, correlationId: 'corr-1' });
    expect(tryCurrentTenantContext()).toBeUndefined();
  });
  it('get a correlation of their own when the data has none (jobs queued before correlations were kept)', async () => {
    const seen = await inTenantJob(QueueName.AI_DRAFTING, { tenantId: A }, async () => currentTenantContext().correlationId);
    expect(seen).toMatch(/^[0-9a-f-]{36}$/);
  });
  it('refuse data whose tenant is not a tenant id, before any work', async () => {
    const work = jest.fn(async () => 'done');
    await expect(Promise.resolve().then(() => inTenantJob(QueueName.AI_DRAFTING, { tenantId: 'not-a-tenant' }, work))).rejects.toThrow();
    expect(work).not.toHaveBeenCalled();
  });
  it('take the correlation of the event that queues them, with the event as the cause', () => {
    expect(jobCorrelation({ correlationId: 'c', id: 'e' })).toEqual({ correlationId: 'c', causationId: 'e' });
    expect(jobCorrelation({ correlationId: 'c' })).toEqual({ correlationId: 'c', causationId: null });
    expect(jobCorrelation(undefined).correlationId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
