// A public client (a single-page or native app) through oauth4webapi: the authorization
// code flow with PKCE (S256) and state, from the endpoints found by RFC 8414 discovery;
// the authorization response checked by the library (state, and iss per RFC 9207); the
// code exchanged; the access token used at an API behind oauth_guard; a refresh; the
// refresh token revoked (RFC 7009), after which the library's refresh is refused; the
// code, presented again, refused.
//
// Input: {"issuer", "client_id", "redirect_uri", "scope", "api_url"}
// Steps: prints {"step": "authorize", "authorization_url"}; reads {"callback_url"}: the
// URL the browser was sent back to.
import * as oauth from 'oauth4webapi';
import { ask, describeError, expectFailure, main, pick } from './io.mjs';

const insecure = { [oauth.allowInsecureRequests]: true }; // plain http on 127.0.0.1 only

await main(async (input) => {
  const issuer = new URL(input.issuer);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  const client = { client_id: input.client_id };
  const auth = oauth.None();

  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const authorizationURL = new URL(as.authorization_endpoint);
  authorizationURL.searchParams.set('client_id', client.client_id);
  authorizationURL.searchParams.set('redirect_uri', input.redirect_uri);
  authorizationURL.searchParams.set('response_type', 'code');
  authorizationURL.searchParams.set('scope', input.scope);
  authorizationURL.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier));
  authorizationURL.searchParams.set('code_challenge_method', 'S256');
  authorizationURL.searchParams.set('state', state);

  const { callback_url: callbackURL } = await ask('authorize', { authorization_url: authorizationURL.href });

  // Checks state, iss (the metadata announces RFC 9207) and that no error came back.
  const params = oauth.validateAuthResponse(as, client, new URL(callbackURL), state);
  const grant = await oauth.processAuthorizationCodeResponse(
    as,
    client,
    await oauth.authorizationCodeGrantRequest(as, client, auth, params, input.redirect_uri, codeVerifier, insecure),
  );

  const api = await callAPI(grant.access_token, input.api_url);

  const refresh = async (refreshToken) =>
    oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth, refreshToken, insecure));
  const refreshed = await refresh(grant.refresh_token);
  const apiAfterRefresh = await callAPI(refreshed.access_token, input.api_url);

  const current = refreshed.refresh_token ?? grant.refresh_token;
  await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, current, insecure));
  const refreshAfterRevocation = await expectFailure(() => refresh(current));

  // The code is one-use (last: presenting it again revokes what it gave, RFC 6749 §4.1.2).
  const codeReplay = await expectFailure(async () =>
    oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, auth, params, input.redirect_uri, codeVerifier, insecure),
    ));

  return {
    token: describeToken(grant),
    api,
    code_replay: codeReplay,
    refreshed: { ...describeToken(refreshed), access_token_changed: refreshed.access_token !== grant.access_token, refresh_token_rotated: refreshed.refresh_token !== undefined && refreshed.refresh_token !== grant.refresh_token },
    api_after_refresh: apiAfterRefresh,
    refresh_after_revocation: refreshAfterRevocation,
  };
});

function describeToken(t) {
  return { ...pick(t, ['token_type', 'expires_in', 'scope']), has_refresh_token: typeof t.refresh_token === 'string', has_id_token: 'id_token' in t };
}

async function callAPI(token, url) {
  try {
    const res = await oauth.protectedResourceRequest(token, 'GET', new URL(url), new Headers(), null, insecure);
    return { status: res.status };
  } catch (err) {
    if (err instanceof oauth.WWWAuthenticateChallengeError) {
      return { status: err.response.status, challenges: err.cause.map((c) => ({ scheme: c.scheme, error: c.parameters.error })) };
    }
    return { failed: describeError(err) };
  }
}
