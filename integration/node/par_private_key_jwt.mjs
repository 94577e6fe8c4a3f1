// A confidential client that authenticates with private_key_jwt (RFC 7523 §2.2) and
// pushes its authorization requests (RFC 9126), through oauth4webapi: the request pushed
// to pushed_authorization_request_endpoint with a signed client assertion, the browser
// sent with client_id and request_uri only, the callback checked by the library (state,
// iss), the code exchanged with a new assertion (PKCE), the token used at an API behind
// oauth_guard, introspected and revoked with assertions; a push the library signs with a
// key the server does not know is refused.
//
// Input: {"issuer", "client_id", "private_jwk", "stranger_jwk", "redirect_uri", "scope", "api_url"}
//   private_jwk and stranger_jwk are EC P-256 private JWKs with their kid.
// Steps: prints {"step": "authorize", "authorization_url"}; reads {"callback_url"}.
import * as oauth from 'oauth4webapi';
import { ask, expectFailure, main, pick } from './io.mjs';

const insecure = { [oauth.allowInsecureRequests]: true }; // plain http on 127.0.0.1 only

async function clientAuth(jwk) {
  const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  return oauth.PrivateKeyJwt({ key, kid: jwk.kid });
}

await main(async (input) => {
  const issuer = new URL(input.issuer);
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }),
  );
  const client = { client_id: input.client_id };
  const auth = await clientAuth(input.private_jwk);
  const result = {
    metadata: pick(as, ['pushed_authorization_request_endpoint', 'token_endpoint_auth_methods_supported',
      'token_endpoint_auth_signing_alg_values_supported', 'request_uri_parameter_supported']),
  };

  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const params = new URLSearchParams({
    redirect_uri: input.redirect_uri,
    response_type: 'code',
    scope: input.scope,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
  });
  const pushed = await oauth.processPushedAuthorizationResponse(
    as, client, await oauth.pushedAuthorizationRequest(as, client, auth, params, insecure));
  result.pushed = { expires_in: pushed.expires_in, request_uri_scheme: pushed.request_uri.split(':').slice(0, 4).join(':') };

  // A key the server was never given: the push is refused (invalid_client).
  const stranger = await clientAuth(input.stranger_jwk);
  result.stranger_push = await expectFailure(async () =>
    oauth.processPushedAuthorizationResponse(as, client, await oauth.pushedAuthorizationRequest(as, client, stranger, params, insecure)));

  const authorizationURL = new URL(as.authorization_endpoint);
  authorizationURL.searchParams.set('client_id', client.client_id);
  authorizationURL.searchParams.set('request_uri', pushed.request_uri);
  const { callback_url: callbackURL } = await ask('authorize', { authorization_url: authorizationURL.href });

  const callback = oauth.validateAuthResponse(as, client, new URL(callbackURL), state);
  const grant = await oauth.processAuthorizationCodeResponse(as, client,
    await oauth.authorizationCodeGrantRequest(as, client, auth, callback, input.redirect_uri, codeVerifier, insecure));
  result.token = { ...pick(grant, ['token_type', 'scope']), has_refresh_token: typeof grant.refresh_token === 'string' };

  const api = await oauth.protectedResourceRequest(grant.access_token, 'GET', new URL(input.api_url), new Headers(), null, insecure);
  result.api = { status: api.status };

  const introspect = async () => oauth.processIntrospectionResponse(as, client,
    await oauth.introspectionRequest(as, client, auth, grant.access_token, insecure));
  result.introspection = pick(await introspect(), ['active', 'client_id', 'scope']);
  await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, grant.access_token, insecure));
  result.introspection_after_revocation = pick(await introspect(), ['active']);
  return result;
});
