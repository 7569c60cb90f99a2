// ESLint flat config: typescript-eslint recommended rules plus Nx module boundaries, so that a
// service lib never imports another service lib (one exception: identity's accounts API, below)
// and apps/platform/contracts layer correctly.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

export default [
  { ignores: ['jest.config.js', '**/node_modules/**', '**/generated/**', '.local/**', 'dist/**', 'coverage/**', '.nx/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:feature', 'type:platform', 'type:contracts', 'type:util'] },
            // identity owns the tenants' accounts (users, invitations; DESIGN.md §2): the one service
            // lib another may call in process, where its scope allows (provisioning's saga invites a
            // tenant's first admin through identity's TenantAdmins). identity depends on no service lib.
            { sourceTag: 'type:feature', onlyDependOnLibsWithTags: ['type:platform', 'type:contracts', 'type:util', 'scope:identity'] },
            { sourceTag: 'type:platform', onlyDependOnLibsWithTags: ['type:platform', 'type:contracts', 'type:util'] },
            { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:contracts'] },
            { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:feature', 'type:platform', 'type:contracts', 'type:util'] },
            // The provisioning app (not its lib: type:feature above) binds the audit library's chain
            // lock and verification for tenant restores (apps/provisioning/src/tenant-audit-chain.ts),
            // and drafts' reader of a data subject's rows for data exports (apps/provisioning/src/main.ts).
            { sourceTag: 'scope:provisioning', onlyDependOnLibsWithTags: ['scope:provisioning', 'scope:identity', 'scope:audit', 'scope:drafts', 'scope:shared'] },
            { sourceTag: 'scope:audit', onlyDependOnLibsWithTags: ['scope:audit', 'scope:shared'] },
            { sourceTag: 'scope:identity', onlyDependOnLibsWithTags: ['scope:identity', 'scope:shared'] },
            { sourceTag: 'scope:quota', onlyDependOnLibsWithTags: ['scope:quota', 'scope:shared'] },
            { sourceTag: 'scope:knowledge', onlyDependOnLibsWithTags: ['scope:knowledge', 'scope:shared'] },
            { sourceTag: 'scope:drafts', onlyDependOnLibsWithTags: ['scope:drafts', 'scope:shared'] },
            { sourceTag: 'scope:ai-drafting', onlyDependOnLibsWithTags: ['scope:ai-drafting', 'scope:shared'] },
            { sourceTag: 'scope:gateway', onlyDependOnLibsWithTags: ['scope:gateway', 'scope:identity', 'scope:shared'] },
            { sourceTag: 'scope:relay', onlyDependOnLibsWithTags: ['scope:shared'] },
            // The ops command line talks to the gateway's ops API only, never to a database: contracts alone.
            { sourceTag: 'scope:ops-cli', onlyDependOnLibsWithTags: ['type:contracts'] },
          ],
        },
      ],
    },
  },
  {
    // No raw Kafka client outside the messaging library; no raw pg outside the db library.
    files: ['apps/**/*.ts', 'libs/provisioning/**/*.ts', 'libs/audit/**/*.ts', 'libs/identity/**/*.ts', 'libs/quota/**/*.ts', 'libs/knowledge/**/*.ts', 'libs/ai-drafting/**/*.ts', 'libs/drafts/**/*.ts', 'libs/gateway/**/*.ts', 'libs/contracts/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: ['kafkajs', '@platformatic/kafka', 'pg'], patterns: ['**/generated/**'] }],
    },
  },
];
