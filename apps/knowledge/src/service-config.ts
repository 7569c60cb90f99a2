// The knowledge service's configuration, checked before anything else is loaded: main.ts imports this
// first, ahead of the modules that read the environment when they are loaded (token keys, KMS keys).
// A malformed, missing or unknown HOTDASH_* variable stops the process here with exit code 78,
// naming each variable and what it must be (docs/configuration.md).
import { loadServiceConfig } from '@hotdash/platform-config';

export const config = loadServiceConfig('knowledge');
