// Adds, lists and disables members of the platform's ops team (platform_operators in the control
// database), as the owner role: services can only read that table.
//
//   npm run ops:operator -- add <email> [display name]     (password from HOTDASH_OPS_PASSWORD, or asked for)
//   npm run ops:operator -- disable <email>
//   npm run ops:operator -- list
import { createInterface } from 'node:readline/promises';
import { loadConfig } from '@hotdash/platform-config';
import { addPlatformOperator, disablePlatformOperator } from '@hotdash/platform-auth';
import { newId, withControlOwner } from '@hotdash/platform-db';

async function password(): Promise<string> {
  if (process.env.HOTDASH_OPS_PASSWORD) return process.env.HOTDASH_OPS_PASSWORD;
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  try {
    return await rl.question('password (12 characters or more): ');
  } finally {
    rl.close();
  }
}

async function main(): Promise<number> {
  const [command, email, ...name] = process.argv.slice(2);
  return withControlOwner(loadConfig(), async (client) => {
    if (command === 'add' && email) {
      const id = await addPlatformOperator(client, { id: newId(), email, password: await password(), displayName: name.join(' ') || undefined });
      console.log(`platform operator ${email} active (id ${id}); sign in with POST /ops/login on the gateway`);
      return 0;
    }
    if (command === 'disable' && email) {
      const done = await disablePlatformOperator(client, email);
      console.log(done ? `platform operator ${email} disabled: their tokens stop working with their next request` : `no active platform operator ${email}`);
      return done ? 0 : 1;
    }
    if (command === 'list') {
      const { rows } = await client.query('select email, display_name, status, created_at, last_login_at from platform_operators order by email');
      console.table(rows);
      return 0;
    }
    console.error('usage: npm run ops:operator -- add <email> [display name] | disable <email> | list');
    return 2;
  });
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`ops:operator failed: ${err.message}`);
    process.exit(1);
  },
);
