// Node's most used Digest client, digest-fetch (over Node's own fetch), for suite/tests/interop.rs.
//
// usage: node digest_fetch.mjs URL USER PASSWORD [ALGORITHM]
//
// digest-fetch answers with the algorithm from its options (MD5 unless ALGORITHM is given),
// whatever the challenge says, on the first nonce of the WWW-Authenticate lines. Prints one
// report as `name<TAB>value` lines, starting with `response<TAB>1`.
let DigestClient;
try {
  ({ default: DigestClient } = await import('digest-fetch'));
} catch (error) {
  console.error(`digest-fetch is not installed (${error.message}); run tests/interop-setup.sh`);
  process.exit(2);
}

const [url, username, password, algorithm] = process.argv.slice(2);
if (!password) {
  console.error('usage: node digest_fetch.mjs URL USER PASSWORD [ALGORITHM]');
  process.exit(2);
}
const escape = (value) =>
  String(value ?? '')
    .replaceAll('\\', '\\\\')
    .replaceAll('\t', '\\t')
    .replaceAll('\n', '\\n')
    .replaceAll('\r', '\\r');

const client = new DigestClient(username, password, algorithm ? { algorithm } : {});
const response = await client.fetch(url, { signal: AbortSignal.timeout(10_000) });
const body = await response.text();
for (const [name, value] of [
  ['response', 1],
  ['status', response.status],
  ['authentication_info', response.headers.get('authentication-info')],
  ['body', body],
]) {
  console.log(`${name}\t${escape(value)}`);
}
