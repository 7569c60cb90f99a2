import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/**
 * Headless Chromium for browser specs: Debian's `chromium` package driven by playwright-core
 * (Playwright cannot download its own browsers here). HOTDASH_CHROMIUM names another binary.
 */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = process.env.HOTDASH_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath}: apt-get install chromium (or set HOTDASH_CHROMIUM)`);
  return chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}
