// The few parts of `oidc-provider` (a devDependency, no bundled types) that the single sign-on specs use
// to run a local OpenID Connect provider.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  interface KoaContextLike {
    path: string;
    method: string;
    status: number;
    body: unknown;
  }

  export class Provider {
    constructor(issuer: string, configuration?: Record<string, unknown>);
    readonly issuer: string;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    use(middleware: (ctx: KoaContextLike, next: () => Promise<void>) => Promise<void>): void;
  }
  export default Provider;
}
