import { Body, Controller, Get, Header, HttpCode, Inject, Post, Req } from '@nestjs/common';
import { Allow, Audited, CurrentPrincipal, Principal, Public } from '@hotdash/platform-auth';
import { IdentityService, loginBody, MeDto, refreshBody, resetConfirmBody, resetRequestBody, TokenPair } from './identity.service';
import { ApiDoc, CREDENTIALS_BODY_LIMIT } from '@hotdash/platform-http';
import { meView, tokenPairView } from '@hotdash/contracts';

interface RequestLike {
  ip?: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Login, token refresh and logout. Token responses are never cached. */
@Controller('auth')
export class AuthController {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}

  @Public()
  @ApiDoc({ summary: 'Log in with the tenant slug, e-mail and password', body: loginBody, bodyLimitBytes: CREDENTIALS_BODY_LIMIT, response: tokenPairView })
  @Post('login')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  login(@Body() body: unknown, @Req() req: RequestLike): Promise<TokenPair> {
    const ua = req.headers['user-agent'];
    return this.identity.login(body, { ip: req.ip ?? null, userAgent: typeof ua === 'string' ? ua : null });
  }

  @Public()
  @ApiDoc({ summary: 'Rotate a refresh token for new tokens (reuse ends the session)', body: refreshBody, bodyLimitBytes: CREDENTIALS_BODY_LIMIT, response: tokenPairView })
  @Post('refresh')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  refresh(@Body() body: unknown): Promise<TokenPair> {
    return this.identity.refresh(body);
  }

  /** Always 202: a reset link is mailed when the address belongs to an active operator. */
  @Public()
  @ApiDoc({ summary: 'Mail a password-reset link (always 202)', body: resetRequestBody, bodyLimitBytes: CREDENTIALS_BODY_LIMIT, status: 202 })
  @Post('password-reset')
  @HttpCode(202)
  async requestReset(@Body() body: unknown): Promise<{ status: 'accepted' }> {
    await this.identity.requestPasswordReset(body);
    return { status: 'accepted' };
  }

  @Public()
  @ApiDoc({
    summary: 'Set a new password with a reset token',
    body: resetConfirmBody,
    bodyLimitBytes: CREDENTIALS_BODY_LIMIT,
    status: 204,
    problems: {
      400: 'Invalid body (weak-password)',
      403: 'The organisation signs in through single sign-on only (password-sign-in-disabled)',
      404: 'No such reset link (reset-not-found)',
      409: 'The link was used already (reset-used)',
      410: 'The link expired (reset-expired)',
    },
  })
  @Post('password-reset/confirm')
  @HttpCode(204)
  async confirmReset(@Body() body: unknown): Promise<void> {
    await this.identity.confirmPasswordReset(body);
  }

  @ApiDoc({ summary: 'End the session (its access token stops working at once)', status: 204 })
  @Post('logout')
  @Allow('profile:read')
  @Audited('session', 'delete')
  @HttpCode(204)
  async logout(@CurrentPrincipal() p: Principal): Promise<void> {
    await this.identity.logout(p);
  }
}

@Controller('me')
export class MeController {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}

  /** The calling user's own profile. */
  @ApiDoc({ summary: "The caller's own profile", response: meView })
  @Get()
  @Allow('profile:read')
  @Audited('user')
  me(@CurrentPrincipal() p: Principal): Promise<MeDto> {
    return this.identity.me(p);
  }
}
