import { Controller, Get, Header, Redirect } from '@nestjs/common';
import { Public } from '@hotdash/platform-auth';
import { FORMER_PUBLIC_PAGES, NotInApi, PUBLIC_PAGES } from '@hotdash/platform-http';

/**
 * The addresses e-mails linked to before the portal served the account pages (accept an invitation,
 * set a new password after a reset): a GET there is sent on to the portal's page. The secret is in
 * the link's fragment, which the browser never sends and carries over a redirect whose Location has
 * none, so links already mailed keep working. The same paths' POSTs stay the API routes.
 */
@Controller()
@Public()
@NotInApi()
export class AccountPagesController {
  @Get(FORMER_PUBLIC_PAGES.invitation)
  @Header('Cache-Control', 'no-store')
  @Header('Referrer-Policy', 'no-referrer')
  @Redirect(PUBLIC_PAGES.invitation, 302)
  invitation(): void {}

  @Get(FORMER_PUBLIC_PAGES.passwordReset)
  @Header('Cache-Control', 'no-store')
  @Header('Referrer-Policy', 'no-referrer')
  @Redirect(PUBLIC_PAGES.passwordReset, 302)
  passwordReset(): void {}
}
