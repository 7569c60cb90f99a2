import { Body, Controller, Delete, Get, Header, HttpCode, Inject, Post, Put, Query, Redirect, Req, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { type TenantId, tokenPairView } from '@hotdash/contracts';
import { Allow, Audited, CurrentPrincipal, LimitPerAddress, Principal, Public } from '@hotdash/platform-auth';
import { ApiDoc, publicUrl } from '@hotdash/platform-http';
import type { TokenPair } from '../identity.service';
import { SsoConfigDto, ssoConfigBody, ssoConfigResponse, SsoConfigService } from './sso-config';
import { parseCookies, SignedIn, ssoCallbackQuery, ssoCookieName, ssoExchangeBody, SsoRefused, SsoSignIn, ssoStartQuery } from './sso-sign-in';

/** Requests a minute one client address may make to each single sign-on route. */
const SSO_PER_ADDRESS = 60;

interface RequestLike {
  ip?: string;
  headers: Record<string, string | string[] | undefined>;
}

/** The portal, with what it should read in the URL's fragment. */
const portalUrl = (fragment: Record<string, string>): string => `${publicUrl('/')}#${new URLSearchParams(fragment).toString()}`;

const cookie = (name: string, value: string, maxAge: number): string =>
  `${name}=${value}; Path=/auth/sso; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${publicUrl('/').startsWith('https:') ? '; Secure' : ''}`;

/**
 * Single sign-on through the tenant's OpenID Connect provider: its admins configure it (`/sso`),
 * operators sign in through it (`/auth/sso/start`, then the provider sends the browser to
 * `/auth/sso/callback`, which answers the platform's usual tokens, as `POST /auth/login` does; or,
 * for a sign-in started with `to=portal`, sends the browser back to the portal with a single-use
 * handoff code the portal exchanges for the tokens at `POST /auth/sso/exchange`).
 */
@Controller()
export class SsoController {
  constructor(
    @Inject(SsoConfigService) private readonly configs: SsoConfigService,
    @Inject(SsoSignIn) private readonly sso: SsoSignIn,
  ) {}

  @ApiDoc({ summary: "The tenant's single sign-on configuration (the client secret is never returned)", response: ssoConfigResponse, problems: { 404: 'No single sign-on configured (sso-not-configured)' } })
  @Get('sso')
  @Allow('settings:write')
  @Audited('sso_config')
  get(@CurrentPrincipal() p: Principal): Promise<SsoConfigDto> {
    return this.configs.get(p.tenantId);
  }

  @ApiDoc({
    summary: "Configure the tenant's OpenID Connect provider for single sign-on, and whether password sign-in stays on",
    body: ssoConfigBody,
    response: ssoConfigResponse,
    problems: {
      409: 'Password sign-in cannot be turned off before an SSO sign-in has worked with this issuer and client id (sso-not-verified)',
      422: 'No OpenID Connect provider answers as this issuer (sso-issuer-unreachable)',
    },
  })
  @Put('sso')
  @Allow('settings:write')
  @Audited('sso_config', 'update')
  put(@CurrentPrincipal() p: Principal, @Body() body: unknown): Promise<SsoConfigDto> {
    return this.configs.put(p.tenantId, body);
  }

  @ApiDoc({ summary: 'Remove single sign-on (password sign-in is on again)', status: 204, problems: { 404: 'No single sign-on configured (sso-not-configured)' } })
  @Delete('sso')
  @HttpCode(204)
  @Allow('settings:write')
  @Audited('sso_config', 'delete')
  async remove(@CurrentPrincipal() p: Principal): Promise<void> {
    await this.configs.remove(p.tenantId);
  }

  /** 302 to the provider's authorization endpoint; sets the cookie that binds the sign-in to this browser. */
  @Public()
  @LimitPerAddress(SSO_PER_ADDRESS)
  @ApiDoc({ summary: "Start single sign-on: 302 to the tenant's identity provider", query: ssoStartQuery, status: 302, problems: { 404: 'No single sign-on for this organisation (sso-not-configured)', 502: 'The provider could not be reached (sso-provider-unavailable)' } })
  @Get('auth/sso/start')
  @Header('Cache-Control', 'no-store')
  @Redirect()
  async start(@Query() query: unknown, @Res({ passthrough: true }) reply: FastifyReply): Promise<{ url: string; statusCode: number }> {
    const started = await this.sso.start(query);
    reply.header('set-cookie', cookie(started.cookie.name, started.cookie.value, started.cookie.maxAgeSeconds));
    return { url: started.location, statusCode: 302 };
  }

  /**
   * Where the provider sends the browser back: the platform's access and refresh tokens, as a
   * password login answers; for a sign-in started with `to=portal`, a 303 to the portal with a
   * single-use handoff code (or the refusal's code) in the URL's fragment.
   */
  @Public()
  @LimitPerAddress(SSO_PER_ADDRESS)
  @ApiDoc({
    summary: 'Finish single sign-on: the code is exchanged and the ID token checked; answers access and refresh tokens (or, started with to=portal, 303 to the portal)',
    query: ssoCallbackQuery,
    problems: {
      400: 'Unknown, expired, replayed or foreign state, or a sign-in started in another browser (sso-state-invalid)',
      401: 'The provider refused, or its answer failed the checks: issuer, audience, nonce, expiry, signature (sso-denied, sso-token-invalid)',
      403: 'E-mail missing, not verified, of a domain not allowed, or the account was removed (sso-email-missing, sso-email-unverified, sso-domain-not-allowed, sso-account-removed)',
    },
  })
  @Get('auth/sso/callback')
  async callback(@Query() query: unknown, @Req() req: RequestLike, @Res() reply: FastifyReply): Promise<void> {
    const state = typeof (query as { state?: unknown })?.state === 'string' ? (query as { state: string }).state : undefined;
    // The binding cookie is spent with the state, whatever the outcome.
    if (state) reply.header('set-cookie', cookie(ssoCookieName(state), '', 0));
    reply.header('cache-control', 'no-store');
    const ua = req.headers['user-agent'];
    let signedIn: SignedIn;
    try {
      signedIn = await this.sso.callback(query, parseCookies(req.headers.cookie), { ip: req.ip ?? null, userAgent: typeof ua === 'string' ? ua : null });
    } catch (err) {
      if (!(err instanceof SsoRefused)) throw err;
      // A browser on its way back to the portal sees the refusal there, as a readable message.
      if (err.to === 'json') throw err.problem;
      return void (await reply.redirect(portalUrl({ 'sso-error': err.problem.code }), 303));
    }
    const { tokens, to } = signedIn;
    if (to === 'json') return void (await reply.status(200).send(tokens));
    await reply.redirect(portalUrl({ sso: await this.sso.handoff(tokens.tenantId as TenantId, tokens) }), 303);
  }

  /** The portal's half of the handoff: the tokens of the sign-in that just finished, once. */
  @Public()
  @LimitPerAddress(SSO_PER_ADDRESS)
  @ApiDoc({
    summary: 'Exchange a single sign-on handoff code (from the portal URL fragment) for access and refresh tokens, once',
    body: ssoExchangeBody,
    response: tokenPairView,
    problems: { 400: 'Unknown, expired or already used handoff code (sso-handoff-invalid)' },
  })
  @Post('auth/sso/exchange')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  exchange(@Body() body: unknown): Promise<TokenPair> {
    return this.sso.exchange(body);
  }
}
