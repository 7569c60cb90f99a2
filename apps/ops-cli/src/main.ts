// hotdash-ops: the ops team's command line over the gateway's ops API (never the databases).
// Started by bin/hotdash-ops.js (npm run ops -- <command>, or the package bin); see docs/operations.md.
import { run } from './program';

void run(process.argv.slice(2)).then((code) => process.exit(code));
