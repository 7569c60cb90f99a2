// Jest: unit specs (*.spec.ts) beside the code, integration specs (*.int-spec.ts) against the real
// local PostgreSQL / Redis / Kafka / Weaviate, end-to-end specs (e2e/**/*.e2e-spec.ts) across processes.
const fs = require('node:fs');
const swc = JSON.parse(fs.readFileSync(`${__dirname}/.swcrc`, 'utf8'));
// ESM-only packages compiled to CommonJS for Jest (the last node_modules/ segment of their path).
const ESM_TRANSFORMED = '(@nestjs|path-to-regexp|content-disposition)';
const transform = {
  '^.+\\.ts$': ['@swc/jest', { ...swc, swcrc: false }],
  // The @nestjs/* packages are ESM-only (Nest 12) and must share Reflect and their classes with the code
  // under test (loaded by Node's own loader, as jest.setup.ts does for other ESM packages, decorators'
  // metadata would land in another realm and DI would fail): compiled to CommonJS like the sources, and
  // so are the ESM-only path-to-regexp 9 of Fastify's middleware engine (@fastify/middie) and
  // content-disposition 3 of @fastify/static (the queue dashboard's files).
  [`/node_modules/${ESM_TRANSFORMED}/.+\\.js$`]: ['@swc/jest', { jsc: { parser: { syntax: 'ecmascript' }, target: 'es2023' }, module: { type: 'commonjs' }, swcrc: false }],
};
const common = {
  transform,
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
  rootDir: __dirname,
  testPathIgnorePatterns: ['/node_modules/', '/\\.local/'],
  transformIgnorePatterns: [`/node_modules/(?!${ESM_TRANSFORMED}/)(?!.*/node_modules/${ESM_TRANSFORMED}/)`],
  setupFiles: ['<rootDir>/jest.setup.ts'],
};
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs,deploy,scripts}/**/*.spec.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/{apps,libs,deploy}/**/*.int-spec.ts'], slowTestThreshold: 30 },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/e2e/**/*.e2e-spec.ts'], slowTestThreshold: 60 },
  ],
};
