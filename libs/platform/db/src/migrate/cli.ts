// `npm run db:migrate`: migrates the control database and every registered shard, with a report per database.
import { loadConfig } from '@hotdash/platform-config';
import { formatReport, migrateAll } from './migrate-all';

async function main(): Promise<void> {
  const report = await migrateAll(loadConfig(), (msg) => console.log(`[db:migrate] ${msg}`));
  console.log(formatReport(report));
  if (!report.ok) {
    console.error('[db:migrate] some databases failed to migrate; fix the error above and run npm run db:migrate again (applied migrations are skipped)');
    process.exit(1);
  }
}

main().catch((err: Error) => {
  console.error(`[db:migrate] ${err.message}`);
  if (/ECONNREFUSED/.test(err.message)) console.error('[db:migrate] is PostgreSQL running? start it with npm run infra:up');
  process.exit(1);
});
