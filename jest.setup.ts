// Runs before every spec of every Jest project (jest.config.js `setupFiles`).
//
// Some dependencies cannot be loaded by Jest's module sandbox: ESM-only packages (Jest cannot
// require ESM without --experimental-vm-modules) and packages that load code with a dynamic
// import. Each is mapped to the copy loaded by Node's own loader (Node 24 requires ESM natively).
// The real `process` is taken from the outer context: the sandbox's has no getBuiltinModule().
function mockLoadedByNode(name: string): () => unknown {
  return () => {
    const vm = jest.requireActual<typeof import('node:vm')>('node:vm');
    const nodeProcess = vm.runInThisContext('process') as NodeJS.Process;
    return nodeProcess.getBuiltinModule('node:module').createRequire(__filename)(name);
  };
}

// ESM-only: the Kafka client, JWTs (libs/platform/auth), uuid (required by weaviate-client's
// CommonJS build), Markdown (the knowledge service's document reader).
jest.mock('@platformatic/kafka', mockLoadedByNode('@platformatic/kafka'));
jest.mock('jose', mockLoadedByNode('jose'));
jest.mock('uuid', mockLoadedByNode('uuid'));
jest.mock('marked', mockLoadedByNode('marked'));
// ESM-only: the OpenID Connect client (identity's single sign-on) and the local provider its specs start.
jest.mock('openid-client', mockLoadedByNode('openid-client'));
jest.mock('oidc-provider', mockLoadedByNode('oidc-provider'));
// unpdf (PDF text) loads its pdf.js bundle with a dynamic import.
jest.mock('unpdf', mockLoadedByNode('unpdf'));
// PGlite (the embedded databases: libs/platform/db/src/embedded) loads its WebAssembly with a dynamic import.
jest.mock('@electric-sql/pglite', mockLoadedByNode('@electric-sql/pglite'));
