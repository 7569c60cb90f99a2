import { uuidSchema } from './envelope';

declare const tenantIdBrand: unique symbol;
/**
 * A tenant's id, branded so that a plain string cannot be passed where a tenant is required:
 * repository methods and withTenant() take a TenantId, obtained only from parseTenantId().
 */
export type TenantId = string & { readonly [tenantIdBrand]: true };

export function parseTenantId(value: string): TenantId {
  const r = uuidSchema.safeParse(value);
  if (!r.success) throw new TypeError(`not a tenant id (expected a UUID): ${JSON.stringify(value).slice(0, 80)}`);
  return value.toLowerCase() as TenantId;
}
