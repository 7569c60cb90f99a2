import { SetMetadata } from '@nestjs/common';

// The gateway's limits are applied by GatewayAdmission (admission.ts), from the platform's one auth
// guard (AuthGuard calls the app's RequestAdmission); what stays here is how a route declares its own.

export const PER_ADDRESS_LIMIT = 'hotdash:per-address-limit';
/** Requests a minute one client address may make to a public route (sign-up): see GatewayAdmission.admitPublic. */
export const LimitPerAddress = (perMinute: number): MethodDecorator => SetMetadata(PER_ADDRESS_LIMIT, perMinute);
