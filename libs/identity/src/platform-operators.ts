import { Body, Controller, Header, HttpCode, Inject, Injectable, Post } from '@nestjs/common';
import { sql } from 'kysely';
import { z } from 'zod';
import { AuthError, DECOY_PASSWORD_HASH, OpsPrincipal, OpsRoute, PlatformOperatorCheck, Public, TokenService, verifyPasswordForUpgrade } from '@hotdash/platform-auth';
import { ControlDatabase } from '@hotdash/platform-db';
import { ApiDoc, CREDENTIALS_BODY_LIMIT, parseInput } from '@hotdash/platform-http';

export const opsLoginBody = z.object({ email: z.string().min(3).max(254), password: z.string().min(1).max(200) }).strict();

export interface OpsToken {
  tokenType: 'Bearer';
  accessToken: string;
  expiresIn: number;
  operatorId: string;
}

/**
 * The platform's ops team (control database, `platform_operators`): sign-in for the ops routes,
 * and the check every ops request makes that the account is still active.
 */
@Injectable()
export class PlatformOperators implements PlatformOperatorCheck {
  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(TokenService) private readonly tokens: TokenService,
  ) {}

  /** E-mail and password → an ops token (15 minutes; no refresh). Every failure looks the same. */
  async login(body: unknown): Promise<OpsToken> {
    const input = parseInput(opsLoginBody, body);
    const op = await this.control.db
      .selectFrom('platform_operators')
      .select(['id', 'status', 'password_hash'])
      .where('email', '=', input.email.trim().toLowerCase())
      .executeTakeFirst();
    // Checked even for an unknown address, so it takes as long as a wrong password.
    const { ok, upgraded } = await verifyPasswordForUpgrade(input.password, op?.password_hash ?? DECOY_PASSWORD_HASH);
    if (!op || op.status !== 'active' || !ok) throw new AuthError('invalid-credentials');
    await this.control.db.updateTable('platform_operators').set({ last_login_at: sql`now()` }).where('id', '=', op.id).execute();
    // A hash of an older format or weaker parameters is replaced by one at the current parameters, only over the
    // hash just verified (a password set meanwhile by `npm run ops:operator` is kept).
    if (upgraded) await this.control.db.updateTable('platform_operators').set({ password_hash: upgraded }).where('id', '=', op.id).where('password_hash', '=', op.password_hash).execute();
    return { tokenType: 'Bearer', accessToken: await this.tokens.issueOps({ subject: op.id }), expiresIn: this.tokens.accessTtlSeconds, operatorId: op.id };
  }

  async stillActive(p: OpsPrincipal): Promise<boolean> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(p.subject)) return false;
    // Every ops request asks: one prepared statement on the control plane's typed layer.
    const op = await this.control.db.selectFrom('platform_operators').select('status').where('id', '=', p.subject).executeTakeFirst();
    return op?.status === 'active';
  }
}

/** Sign-in for the platform's ops team (their token reaches the /ops routes only). */
@Controller('ops')
@OpsRoute()
export class OpsAuthController {
  constructor(@Inject(PlatformOperators) private readonly operators: PlatformOperators) {}

  @Public()
  @ApiDoc({ summary: 'Platform operators: sign in for the ops routes', body: opsLoginBody, bodyLimitBytes: CREDENTIALS_BODY_LIMIT })
  @Post('login')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  login(@Body() body: unknown): Promise<OpsToken> {
    return this.operators.login(body);
  }
}
