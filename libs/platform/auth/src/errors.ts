import { ProblemException } from '@hotdash/platform-http';

/** Why a credential was refused. Every one answers 401 with this code; none says more than needed. */
export type AuthFailure =
  | 'missing-credentials'
  | 'invalid-token'
  | 'token-expired'
  | 'token-revoked'
  | 'invalid-credentials'
  | 'invalid-refresh-token'
  | 'refresh-token-reused'
  | 'invalid-api-key';

const DETAIL: Record<AuthFailure, string> = {
  'missing-credentials': 'Send an access token (Authorization: Bearer …) or an API key (X-Api-Key).',
  'invalid-token': 'The access token is not valid. Log in again.',
  'token-expired': 'The access token has expired. Use your refresh token, or log in again.',
  'token-revoked': 'The access token has been revoked. Log in again.',
  'invalid-credentials': 'The tenant, e-mail address or password is wrong.',
  'invalid-refresh-token': 'The refresh token is not valid. Log in again.',
  'refresh-token-reused': 'This refresh token was already used; the session has been ended for safety. Log in again.',
  'invalid-api-key': 'The API key is not valid or has been revoked.',
};

export class AuthError extends ProblemException {
  constructor(readonly failure: AuthFailure) {
    super(401, failure, 'Unauthorized', DETAIL[failure]);
    this.name = 'AuthError';
  }
}
