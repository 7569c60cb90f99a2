// The run mode, applied before anything else is loaded: main.ts imports this first, so every module
// (the platform libraries, then each service's entry point) reads the per-port settings with the
// mode's defaults already in the environment (libs/platform/config/src/run-mode.ts). The launcher's
// default is `embedded`; HOTDASH_MODE=stack runs the same process on the real stores.
import { applyRunMode } from '@hotdash/platform-config';

export const runMode = applyRunMode(process.env, 'embedded');
