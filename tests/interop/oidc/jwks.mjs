// A private JWKS with one new signing key, for provider.mjs --jwks:
// node jwks.mjs RS256|ES256 KID > FILE
// Keys carry no "alg" (as oidc-provider's and Entra's published RSA keys do
// not): the gateway derives it from kty/crv and its `algorithms` allow-list.

import { generateKeyPairSync } from 'node:crypto';

const [alg, kid] = process.argv.slice(2);
const kinds = {
  RS256: ['rsa', { modulusLength: 2048 }],
  ES256: ['ec', { namedCurve: 'P-256' }],
};
if (!kinds[alg] || !kid) {
  console.error('usage: node jwks.mjs RS256|ES256 KID');
  process.exit(2);
}
const { privateKey } = generateKeyPairSync(...kinds[alg]);
const jwk = { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig' };
process.stdout.write(JSON.stringify({ keys: [jwk] }));
