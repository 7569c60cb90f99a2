// Prisma 7 configuration for the control schema. Only `prisma generate` is used (see
// scripts/prisma-generate.mjs); migrations are SQL folders applied by libs/platform/db/src/migrate.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: './schema.prisma',
  migrations: { path: './migrations' },
});
