// The portal's build: `vite build` (apps/portal/scripts/build.mjs) writes dist/portal at the
// repository's root, which the gateway serves at / (libs/gateway/src/portal-static.ts).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  logLevel: 'warn',
  build: { outDir: `${here}../../dist/portal`, emptyOutDir: true, sourcemap: false, target: 'es2022', reportCompressedSize: false },
  // `vite` (dev server, port 5173) sends API calls to the gateway of npm start (:3100).
  server: { proxy: Object.fromEntries(['/auth', '/me', '/tenant', '/tickets', '/drafts', '/documents', '/operators', '/usage', '/draft-metrics', '/audit-log', '/settings', '/sso', '/exports', '/privacy', '/invitations', '/openapi.json'].map((p) => [p, 'http://127.0.0.1:3100'])) },
});
