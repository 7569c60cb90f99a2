// Runs before every spec of every Jest project (jest.config.js `setupFiles`).
//
// @platformatic/kafka is ESM-only and Jest cannot require ESM without --experimental-vm-modules, so
// the module is mapped to the copy loaded by Node's own loader (Node 24 requires ESM natively). The
// real `process` is taken from the outer context: the sandbox's has no getBuiltinModule().
jest.mock('@platformatic/kafka', () => {
  const vm = jest.requireActual<typeof import('node:vm')>('node:vm');
  const nodeProcess = vm.runInThisContext('process') as NodeJS.Process;
  return nodeProcess.getBuiltinModule('node:module').createRequire(__filename)('@platformatic/kafka');
});

// jose (JWT signing and verification, libs/platform/auth) is ESM-only too: same mapping.
jest.mock('jose', () => {
  const vm = jest.requireActual<typeof import('node:vm')>('node:vm');
  const nodeProcess = vm.runInThisContext('process') as NodeJS.Process;
  return nodeProcess.getBuiltinModule('node:module').createRequire(__filename)('jose');
});

// uuid 14 (required by weaviate-client's CommonJS build, libs/platform/vector) is ESM-only too: same mapping.
jest.mock('uuid', () => {
  const vm = jest.requireActual<typeof import('node:vm')>('node:vm');
  const nodeProcess = vm.runInThisContext('process') as NodeJS.Process;
  return nodeProcess.getBuiltinModule('node:module').createRequire(__filename)('uuid');
});
