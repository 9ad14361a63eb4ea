// node-oidc-provider (a certified OpenID Provider) for tests/oidc_interop.rs:
// HTTPS with a certificate made by the test, one public client (PKCE,
// token_endpoint_auth_method "none"), the development login form, and JWT
// access tokens for one resource server (the gateway).
//
// node provider.mjs --issuer URL --port N --cert PEM --key PEM --jwks FILE
//                   --alg RS256|ES256 --resource URI --scope "a b"
//                   --client-id ID --redirect-uri URI
//                   [--login-client-id ID --login-client-secret S --login-redirect-uri URI]
//
// The --login-* options add a confidential client (client_secret_basic):
// the gateway as a relying party logging people in (tests/user_consent.rs).
//
// The signing keys are the private JWKS in --jwks: restarting with another
// file is a key rotation. Prints "listening <issuer>" once it accepts
// connections; the test waits for that line.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

const { values: a } = parseArgs({
  options: {
    issuer: { type: 'string' },
    port: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    jwks: { type: 'string' },
    alg: { type: 'string' },
    resource: { type: 'string' },
    scope: { type: 'string' },
    'client-id': { type: 'string' },
    'redirect-uri': { type: 'string' },
    'login-client-id': { type: 'string' },
    'login-client-secret': { type: 'string' },
    'login-redirect-uri': { type: 'string' },
  },
  strict: true,
});
for (const name of ['issuer', 'port', 'cert', 'key', 'jwks', 'alg', 'resource', 'scope', 'client-id', 'redirect-uri']) {
  if (!a[name]) {
    console.error(`provider.mjs: --${name} is required`);
    process.exit(2);
  }
}

const clients = [{
  client_id: a['client-id'],
  token_endpoint_auth_method: 'none',
  redirect_uris: [a['redirect-uri']],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  // The key set holds keys of one algorithm only; ID tokens use it too.
  id_token_signed_response_alg: a.alg,
}];
if (a['login-client-id']) {
  clients.push({
    client_id: a['login-client-id'],
    client_secret: a['login-client-secret'],
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [a['login-redirect-uri']],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: a.alg,
  });
}

const provider = new Provider(a.issuer, {
  clients,
  jwks: JSON.parse(readFileSync(a.jwks, 'utf8')),
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      getResourceServerInfo(ctx, indicator) {
        if (indicator !== a.resource) {
          throw new errors.InvalidTarget();
        }
        return {
          audience: a.resource,
          scope: a.scope,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 600,
          jwt: { sign: { alg: a.alg } },
        };
      },
    },
  },
});

const server = createServer({
  cert: readFileSync(a.cert),
  key: readFileSync(a.key),
}, provider.callback());
server.listen(Number(a.port), '127.0.0.1', () => {
  console.log(`listening ${a.issuer}`);
});
// The test stops the provider by closing its stdin (or killing it): no
// process outlives a test that panicked.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
