import { PrismaPg } from '@prisma/adapter-pg';
import type { Pool } from 'pg';
import { PrismaClient as ControlClient } from './generated/control/client';
import { PrismaClient as TenantClient } from './generated/tenant/client';
import type { Prisma as ControlPrismaNs } from './generated/control/client';

export type TenantPrisma = InstanceType<typeof TenantClient>;
export type ControlPrisma = InstanceType<typeof ControlClient>;
export type ControlTx = ControlPrismaNs.TransactionClient;

export function createTenantPrisma(pool: Pool): TenantPrisma {
  return new TenantClient({ adapter: new PrismaPg(pool) });
}

export function createControlPrisma(pool: Pool): ControlPrisma {
  return new ControlClient({ adapter: new PrismaPg(pool) });
}
