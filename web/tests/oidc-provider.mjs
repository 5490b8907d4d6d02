#!/usr/bin/env node
// A real OpenID Connect provider for tests and local demos: oauth2-mock-server's issuer and
// service (discovery, JWKS, /authorize and /token with authorization code + PKCE) on 127.0.0.1,
// with RS256 keys, behind a node:http server that counts the requests per path.
//
//   node web/tests/oidc-provider.mjs [--port N] [--claims '{"tenant":"t","role":"trainer","aud":"more-node"}']
//
// Prints one JSON line, {"issuer": "...", "kid": "..."}, then answers one JSON line per JSON
// command read on stdin:
//   {"cmd":"token","claims":{...},"expires_in":S} -> {"token":"..."}  signed with the current key;
//       claims over the defaults (iss, iat, nbf, exp = now + S, sub "mock-user", --claims);
//       a negative S gives an expired token
//   {"cmd":"rotate"}                              -> {"kid":"..."}    a new signing key, published
//       in the JWKS next to the old ones
//   {"cmd":"foreign_token","claims":{...}}        -> {"token":"..."}  signed by a key that is not
//       in the JWKS (same issuer URL, unknown kid)
//   {"cmd":"requests","path":"/jwks"}             -> {"count":N}      requests served on that path
// A command that fails answers {"error":"..."}. Tokens from /token carry the --claims (an
// id_token keeps its client-id audience). Exits when stdin closes or on SIGTERM/SIGINT.
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Events, OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';

const { values: options } = parseArgs({
  options: { port: { type: 'string', default: '0' }, claims: { type: 'string', default: '{}' } },
});
const cliClaims = JSON.parse(options.claims);

// What OAuth2Server assembles, with our own HTTP server in front to count requests per path.
const issuer = new OAuth2Issuer();
const service = new OAuth2Service(issuer);
const requests = new Map();
const http = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  requests.set(path, (requests.get(path) ?? 0) + 1);
  service.requestHandler(req, res);
});
let signingKid = (await issuer.keys.generate('RS256')).kid;
await new Promise((resolve, reject) => {
  http.once('error', reject);
  http.listen(Number(options.port), '127.0.0.1', resolve);
});
issuer.url = `http://127.0.0.1:${http.address().port}`;

// Tokens from the authorization-code (or any) grant at /token: add the --claims. Access tokens
// carry a `scope` member; the id_token does not, and keeps its audience (the client id).
service.on(Events.BeforeTokenSigning, (token) => {
  const { aud, ...rest } = cliClaims;
  Object.assign(token.payload, 'scope' in token.payload ? cliClaims : rest);
});

// An issuer with the same URL whose key the provider never publishes.
const foreign = new OAuth2Issuer();
foreign.url = issuer.url;
const foreignKid = (await foreign.keys.generate('RS256')).kid;

/** `claims` over the defaults, for a token expiring in `expiresIn` seconds. */
function build(issuer, kid, claims, expiresIn) {
  const merge = (_header, payload) => Object.assign(payload, { sub: 'mock-user' }, cliClaims, claims);
  return issuer.buildToken({ kid, expiresIn, scopesOrTransform: merge });
}

async function answer(line) {
  const command = JSON.parse(line);
  switch (command.cmd) {
    case 'token':
      return { token: await build(issuer, signingKid, command.claims ?? {}, command.expires_in ?? 3600) };
    case 'rotate':
      signingKid = (await issuer.keys.generate('RS256')).kid;
      return { kid: signingKid };
    case 'foreign_token':
      return { token: await build(foreign, foreignKid, command.claims ?? {}, command.expires_in ?? 3600) };
    case 'requests':
      return { count: requests.get(command.path) ?? 0 };
    default:
      throw new Error(`unknown command ${JSON.stringify(command.cmd)}`);
  }
}

function stop() {
  http.closeAllConnections();
  http.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

console.log(JSON.stringify({ issuer: issuer.url, kid: signingKid }));
const lines = createInterface({ input: process.stdin, terminal: false });
for await (const line of lines) {
  if (line.trim() === '') continue;
  const reply = await answer(line).catch((e) => ({ error: String(e?.message ?? e) }));
  console.log(JSON.stringify(reply));
}
stop();
