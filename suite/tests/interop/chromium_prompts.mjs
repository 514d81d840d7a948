// Headless Chromium (Debian's /usr/bin/chromium) over the DevTools protocol, counting the
// login prompts a user would see, for tests/interop/logout.rs.
//
// usage: node --experimental-websocket chromium_prompts.mjs BASE_URL USER PASSWORD STEP...
//
// A STEP is `login:PATH` (answer the page's prompts with USER and PASSWORD, as a user
// would type them) or `cancel:PATH` (dismiss them). `Fetch.enable` with
// `handleAuthRequests` hands every prompt to this script as a `Fetch.authRequired` event
// instead of showing it. The steps run in turn in one tab of a fresh profile; each prints
// a report of `name<TAB>value` lines, starting with `response<TAB>N`: the path, the page's
// status and the number of prompts during its navigation.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [baseUrl, username, password, ...steps] = process.argv.slice(2);
if (!baseUrl || steps.length === 0 || typeof WebSocket === 'undefined') {
  console.error('usage: node --experimental-websocket chromium_prompts.mjs BASE_URL USER PASSWORD STEP...');
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), 'digest-interop-prompts-'));
const browser = spawn(process.env.CHROMIUM ?? '/usr/bin/chromium', [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--remote-debugging-port=0',
  `--user-data-dir=${profile}`,
  'about:blank',
]);

try {
  // Chromium names its DevTools endpoint on stderr.
  const endpoint = await new Promise((resolve, reject) => {
    let seen = '';
    browser.stderr.on('data', (chunk) => {
      seen += chunk;
      const found = seen.match(/DevTools listening on (ws:\/\/\S+)/);
      if (found) resolve(found[1]);
    });
    browser.on('exit', (code) => reject(new Error(`chromium exited (${code}): ${seen}`)));
  });
  const port = new URL(endpoint).port;
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const page = targets.find((target) => target.type === 'page');
  const socket = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });

  let nextId = 0;
  const pending = new Map();
  const listeners = [];
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ id, method, params }));
    });
  socket.onmessage = ({ data }) => {
    const message = JSON.parse(data);
    if (message.id && pending.has(message.id)) {
      const { resolve, reject } = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) reject(new Error(JSON.stringify(message.error)));
      else resolve(message.result);
    } else if (message.method) {
      for (const listener of listeners) listener(message);
    }
  };

  let prompts = 0;
  let answer = 'ProvideCredentials';
  let status = 0;
  listeners.push(({ method, params }) => {
    if (method === 'Fetch.requestPaused') {
      send('Fetch.continueRequest', { requestId: params.requestId }).catch(() => {});
    } else if (method === 'Fetch.authRequired') {
      prompts += 1;
      const authChallengeResponse =
        answer === 'ProvideCredentials' ? { response: answer, username, password } : { response: answer };
      send('Fetch.continueWithAuth', { requestId: params.requestId, authChallengeResponse }).catch(() => {});
    } else if (method === 'Network.responseReceived' && params.type === 'Document') {
      status = params.response.status;
    }
  });
  await send('Network.enable');
  await send('Page.enable');
  await send('Fetch.enable', { handleAuthRequests: true, patterns: [{ urlPattern: '*' }] });

  let index = 0;
  for (const step of steps) {
    index += 1;
    const [mode, path] = [step.slice(0, step.indexOf(':')), step.slice(step.indexOf(':') + 1)];
    answer = mode === 'cancel' ? 'CancelAuth' : 'ProvideCredentials';
    prompts = 0;
    status = 0;
    const loaded = new Promise((resolve) => listeners.push(({ method }) => method === 'Page.loadEventFired' && resolve()));
    await send('Page.navigate', { url: baseUrl + path });
    await Promise.race([loaded, new Promise((_, reject) => setTimeout(() => reject(new Error(`${path} did not load`)), 30_000))]);
    const lines = [
      ['response', index],
      ['path', path],
      ['status', status],
      ['prompts', prompts],
    ];
    for (const [name, value] of lines) process.stdout.write(`${name}\t${value}\n`);
  }
  socket.close();
} finally {
  browser.kill();
  await new Promise((resolve) => (browser.exitCode !== null ? resolve() : browser.on('exit', resolve)));
  // Best effort: a Chromium helper process that outlives the browser can still be writing
  // to the profile (ENOTEMPTY in CI, after every result above was printed). The verdict is
  // in stdout, so a temporary directory left behind must not fail the run.
  try {
    rmSync(profile, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  } catch (error) {
    process.stderr.write(`left ${profile} behind: ${error.message}\n`);
  }
}
