// DPoP (RFC 9449) with server nonces, through oauth4webapi, by a confidential client that
// authenticates with private_key_jwt (RFC 7523) and must push its authorization requests
// (RFC 9126): the push carries a DPoP proof, which binds the code to the key (§10.1); the
// server asks for a nonce (use_dpop_nonce, §8) and the library retries with the one it
// cached; another key cannot redeem the code; the code exchange and a refresh give
// DPoP-bound tokens, which introspection reports with the key's thumbprint.
//
// Then the guarded API (needs oauth_guard's DPoP support, built apart): the token with a
// proof of the key (and the guard's own nonce, if it asks for one) is accepted; the same
// token as a Bearer token, or with a proof of another key, is not.
//
// Input: {"issuer", "client_id", "private_jwk", "redirect_uri", "scope", "api_url"}
//   private_jwk is an EC P-256 private JWK with its kid.
// Steps: prints {"step": "authorize", "authorization_url"}; reads {"callback_url"}.
import * as oauth from 'oauth4webapi';
import { callAPI, clientAuth, insecure, withNonceRetry } from './dpop.mjs';
import { ask, expectFailure, main, pick } from './io.mjs';

await main(async (input) => {
  const issuer = new URL(input.issuer);
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }),
  );
  const client = { client_id: input.client_id };
  const auth = await clientAuth(input.private_jwk);
  const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
  const thief = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
  const result = {
    metadata: pick(as, ['dpop_signing_alg_values_supported', 'pushed_authorization_request_endpoint']),
    jkt: await DPoP.calculateThumbprint(),
    nonce_challenges: {},
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
  const pushed = await withNonceRetry(result.nonce_challenges, 'par', async () => oauth.processPushedAuthorizationResponse(
    as, client, await oauth.pushedAuthorizationRequest(as, client, auth, params, { DPoP, ...insecure })));

  const authorizationURL = new URL(as.authorization_endpoint);
  authorizationURL.searchParams.set('client_id', client.client_id);
  authorizationURL.searchParams.set('request_uri', pushed.request_uri);
  const { callback_url: callbackURL } = await ask('authorize', { authorization_url: authorizationURL.href });
  const callback = oauth.validateAuthResponse(as, client, new URL(callbackURL), state);

  const exchange = (handle) => async () => oauth.processAuthorizationCodeResponse(as, client,
    await oauth.authorizationCodeGrantRequest(as, client, auth, callback, input.redirect_uri, codeVerifier, { DPoP: handle, ...insecure }));
  // The push bound the code to DPoP's key: a proof of another key does not redeem it.
  result.other_key_exchange = await expectFailure(() => withNonceRetry({}, 'thief', exchange(thief)));
  const grant = await withNonceRetry(result.nonce_challenges, 'token', exchange(DPoP));
  result.token = { ...pick(grant, ['token_type', 'scope']), has_refresh_token: typeof grant.refresh_token === 'string' };

  const refreshed = await withNonceRetry(result.nonce_challenges, 'refresh', async () => oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, auth, grant.refresh_token, { DPoP, ...insecure })));
  result.refreshed = pick(refreshed, ['token_type', 'scope']);

  const info = await oauth.processIntrospectionResponse(as, client,
    await oauth.introspectionRequest(as, client, auth, refreshed.access_token, insecure));
  result.introspection = { ...pick(info, ['active', 'client_id', 'token_type']), cnf_jkt: info.cnf?.jkt };

  // The guarded API (oauth_guard's DPoP support).
  const api = new URL(input.api_url);
  result.api = await callAPI(refreshed.access_token, api, DPoP);
  result.api_as_bearer = await callAPI(refreshed.access_token, api, undefined);
  result.api_other_key = await callAPI(refreshed.access_token, api, thief);
  return result;
});
