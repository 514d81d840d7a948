// Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, for suite/tests/interop.rs.
//
// usage: node chromium.mjs BASE_URL USER PASSWORD PATH...
//
// Opens a fresh profile, gives the browser the credentials the way a user would type them into
// the login prompt (playwright's httpCredentials answers Chromium's auth prompt; the Digest
// computation is Chromium's own), visits each PATH in turn in one tab and prints one report per
// page as `name<TAB>value` lines, starting with `response<TAB>N`.
// IGNORE_HTTPS_ERRORS=1 accepts the self-signed certificate of suite/tests/tls.rs's servers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (error) {
  console.error(`playwright-core is not installed (${error.message}); run tests/interop-setup.sh`);
  process.exit(2);
}

const [baseUrl, username, password, ...paths] = process.argv.slice(2);
if (!baseUrl || paths.length === 0) {
  console.error('usage: node chromium.mjs BASE_URL USER PASSWORD PATH...');
  process.exit(2);
}

const escape = (value) =>
  String(value)
    .replaceAll('\\', '\\\\')
    .replaceAll('\t', '\\t')
    .replaceAll('\n', '\\n')
    .replaceAll('\r', '\\r');

const profile = mkdtempSync(join(tmpdir(), 'digest-interop-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    timeout: 60_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    httpCredentials: { username, password },
    ignoreHTTPSErrors: process.env.IGNORE_HTTPS_ERRORS === '1',
  });
  const page = context.pages()[0] ?? (await context.newPage());
  let index = 0;
  for (const path of paths) {
    index += 1;
    const response = await page.goto(baseUrl + path, { timeout: 30_000 });
    const text = await page.evaluate(() => document.body?.innerText ?? '');
    // The protocol of the page load as the browser saw it: `h2`, `http/1.1`.
    const protocol = await page.evaluate(
      () => performance.getEntriesByType('navigation')[0]?.nextHopProtocol ?? '',
    );
    const lines = [
      ['response', index],
      ['path', path],
      ['status', response.status()],
      ['authentication_info', (await response.allHeaders())['authentication-info'] ?? ''],
      ['body', text],
      ['protocol', protocol],
    ];
    for (const [name, value] of lines) {
      process.stdout.write(`${name}\t${escape(value)}\n`);
    }
  }
} finally {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
}
