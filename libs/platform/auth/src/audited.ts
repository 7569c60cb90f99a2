import { SetMetadata } from '@nestjs/common';
import type { AccessAction } from '@hotdash/contracts';

export const AUDITED = 'hotdash:audited';

export interface AuditedOptions {
  resourceType: string;
  /** Defaults to the HTTP method's: GET read, POST create, PUT/PATCH update, DELETE delete. */
  action?: AccessAction;
}

/**
 * Names what a route's requests read or change, for the audit of access: every authenticated
 * request through the gateway becomes an audit entry (actor, action, resource type and id, IP, time).
 */
export const Audited = (resourceType: string, action?: AccessAction): MethodDecorator & ClassDecorator => SetMetadata(AUDITED, { resourceType, action } satisfies AuditedOptions);
