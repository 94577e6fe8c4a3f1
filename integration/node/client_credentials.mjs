// A machine client through oauth4webapi: client credentials (client_secret_basic) from the
// endpoints found by RFC 8414 discovery; the access token checked as a resource server
// would with the library's RFC 9068 validator (signature over the JWKS, typ at+jwt, iss,
// aud, exp, required claims); the token used at an API behind oauth_guard; RFC 7662
// introspection; RFC 7009 revocation, after which introspection says inactive.
//
// Input: {"issuer", "client_id", "client_secret", "scope", "api_url", "audience"}
import * as oauth from 'oauth4webapi';
import { describeError, main, pick } from './io.mjs';

const insecure = { [oauth.allowInsecureRequests]: true }; // plain http on 127.0.0.1 only

await main(async (input) => {
  const issuer = new URL(input.issuer);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  const client = { client_id: input.client_id };
  const auth = oauth.ClientSecretBasic(input.client_secret);

  const grant = await oauth.processClientCredentialsResponse(
    as,
    client,
    await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ scope: input.scope }), insecure),
  );
  const token = grant.access_token;

  const claims = await oauth.validateJwtAccessToken(
    as,
    new Request(input.api_url, { headers: { authorization: `Bearer ${token}` } }),
    input.audience,
    insecure,
  );

  const api = await callAPI(token, input.api_url);

  const introspect = async () =>
    oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, token, insecure));
  const before = await introspect();
  await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, token, insecure));
  const after = await introspect();

  return {
    token: { token_type: grant.token_type, expires_in: grant.expires_in, scope: grant.scope, has_refresh_token: 'refresh_token' in grant },
    access_token_claims: pick(claims, ['iss', 'sub', 'aud', 'client_id', 'scope', 'exp', 'iat', 'jti']),
    api,
    introspection_before_revocation: pick(before, ['active', 'client_id', 'scope', 'token_type', 'iss', 'sub', 'exp']),
    introspection_after_revocation: pick(after, ['active']),
  };
});

// callAPI makes a request with the token through the library's protected resource helper
// and reports the status, or the Bearer challenge the library read from a refusal.
async function callAPI(token, url) {
  try {
    const res = await oauth.protectedResourceRequest(token, 'GET', new URL(url), new Headers(), null, insecure);
    return { status: res.status, body: await res.json().catch(() => null) };
  } catch (err) {
    if (err instanceof oauth.WWWAuthenticateChallengeError) {
      return { status: err.response.status, challenges: err.cause.map((c) => ({ scheme: c.scheme, error: c.parameters.error })) };
    }
    return { failed: describeError(err) };
  }
}

