import { AsyncLocalStorage } from 'node:async_hooks';
import type { TenantId } from '@hotdash/contracts';

/**
 * Who a piece of work is done for. Set at the edges only: from the credential (HTTP), from the
 * event envelope (consumers) or from the job data (workers); never from a request body.
 */
export interface TenantContext {
  readonly tenantId: TenantId;
  readonly actorId: string;
  readonly correlationId: string;
}

const storage = new AsyncLocalStorage<TenantContext>();

export class TenantContextMissingError extends Error {
  constructor() {
    super('no tenant context: this code must run inside runInTenantContext()');
    this.name = 'TenantContextMissingError';
  }
}

export function runInTenantContext<T>(ctx: TenantContext, fn: () => T): T {
  return storage.run(Object.freeze({ ...ctx }), fn);
}

/** The current tenant context; throws when there is none (fail closed). */
export function currentTenantContext(): TenantContext {
  const ctx = storage.getStore();
  if (!ctx) throw new TenantContextMissingError();
  return ctx;
}

/** The current tenant context or undefined, for code that also runs outside any tenant. */
export function tryCurrentTenantContext(): TenantContext | undefined {
  return storage.getStore();
}

/**
 * Runs `fn` outside any tenant context: for what outlives the request that happens to start it and
 * serves every tenant (a LISTEN connection, a process-wide timer), whose callbacks would otherwise
 * run in that first request's tenant context.
 */
export function outsideTenantContext<T>(fn: () => T): T {
  return storage.exit(fn);
}
