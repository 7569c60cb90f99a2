import { Global, Module } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { cryptoProviders, FieldCipher } from '@hotdash/platform-crypto';
import { MailOutbox } from '@hotdash/platform-messaging';
import { AuthController, MeController } from './auth.controller';
import { ApiKeyVerifier, AuthGuard, PlatformOperatorCheck, RevocationFallback, TenantContextInterceptor } from '@hotdash/platform-auth';
import { OpsAuthController, PlatformOperators } from './platform-operators';
import { ApiKeysController } from './api-keys.controller';
import { ApiKeysService } from './api-keys.service';
import { IdentityService } from './identity.service';
import { SsoController } from './sso/sso.controller';
import { SsoConfigService } from './sso/sso-config';
import { SsoProviders } from './sso/sso-provider';
import { SsoSignIn } from './sso/sso-sign-in';

/**
 * Identity for the gateway: login (password or the tenant's single sign-on), refresh, logout, who-am-I, and the guard that authenticates
 * every other route. Needs DatabaseModule and AuthModule (libs/platform/auth) in the app.
 */
@Global()
@Module({
  controllers: [AuthController, MeController, ApiKeysController, OpsAuthController, SsoController],
  providers: [
    IdentityService,
    // Single sign-on through each tenant's OpenID Connect provider (sso/).
    SsoProviders,
    SsoConfigService,
    SsoSignIn,
    { provide: RevocationFallback, useExisting: IdentityService },
    ApiKeysService,
    { provide: ApiKeyVerifier, useExisting: ApiKeysService },
    PlatformOperators,
    { provide: PlatformOperatorCheck, useExisting: PlatformOperators },
    { provide: APP_GUARD, useClass: AuthGuard },
    { provide: APP_INTERCEPTOR, useClass: TenantContextInterceptor },
    ...cryptoProviders(),
    // Password-reset e-mails go through the platform's mail port.
    { provide: MailOutbox, useFactory: (cipher: FieldCipher) => new MailOutbox(cipher), inject: [FieldCipher] },
  ],
  // Global: the authenticator (libs/platform/auth) asks identity's database fallback while Redis is away.
  exports: [IdentityService, RevocationFallback, ApiKeyVerifier, PlatformOperators, PlatformOperatorCheck],
})
export class IdentityModule {}
