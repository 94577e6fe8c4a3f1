// A public client (a single-page or native app) through oauth4webapi: the authorization
// code flow with PKCE (S256) and state, from the endpoints found by discovery; the
// authorization response checked by the library (state, and iss per RFC 9207); the code
// exchanged; the access token used at an API behind oauth_guard and at userinfo; a
// refresh; the refresh token revoked (RFC 7009), after which the library's refresh is
// refused; the code, presented again, refused.
//
// With "oidc": OpenID Connect discovery, a nonce, the ID token required and validated by
// the library (signature over the JWKS, iss, aud, azp, exp, nonce), userinfo for its
// subject, and the refresh's new ID token validated too. Without it, userinfo must refuse
// the token (no openid scope) with a Bearer challenge the library reads.
//
// Input: {"issuer", "client_id", "redirect_uri", "scope", "api_url", "oidc": bool}
// Steps: prints {"step": "authorize", "authorization_url"}; reads {"callback_url"}: the
// URL the browser was sent back to.
import * as oauth from 'oauth4webapi';
import { ask, describeError, expectFailure, main, pick } from './io.mjs';

const insecure = { [oauth.allowInsecureRequests]: true }; // plain http on 127.0.0.1 only

await main(async (input) => {
  const issuer = new URL(input.issuer);
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: input.oidc ? 'oidc' : 'oauth2', ...insecure }),
  );
  const client = { client_id: input.client_id };
  const auth = oauth.None();

  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = input.oidc ? oauth.generateRandomNonce() : undefined;
  const authorizationURL = new URL(as.authorization_endpoint);
  authorizationURL.searchParams.set('client_id', client.client_id);
  authorizationURL.searchParams.set('redirect_uri', input.redirect_uri);
  authorizationURL.searchParams.set('response_type', 'code');
  authorizationURL.searchParams.set('scope', input.scope);
  authorizationURL.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier));
  authorizationURL.searchParams.set('code_challenge_method', 'S256');
  authorizationURL.searchParams.set('state', state);
  if (nonce) {
    authorizationURL.searchParams.set('nonce', nonce);
  }

  const { callback_url: callbackURL } = await ask('authorize', { authorization_url: authorizationURL.href });

  // Checks state, iss (the metadata announces RFC 9207) and that no error came back.
  const params = oauth.validateAuthResponse(as, client, new URL(callbackURL), state);
  const exchange = async () =>
    oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, auth, params, input.redirect_uri, codeVerifier, insecure),
      input.oidc ? { expectedNonce: nonce, requireIdToken: true } : undefined,
    );
  const grant = await exchange();
  const result = { token: describeToken(grant) };

  const userinfo = async (accessToken, subject) =>
    oauth.processUserInfoResponse(as, client, subject, await oauth.userInfoRequest(as, client, accessToken, insecure));
  if (input.oidc) {
    const claims = oauth.getValidatedIdTokenClaims(grant);
    result.id_token = { alg: jwsAlg(grant.id_token), claims };
    result.userinfo = await userinfo(grant.access_token, claims.sub);
  } else {
    result.userinfo_refused = await challengeOf(() => userinfo(grant.access_token, oauth.skipSubjectCheck));
  }

  result.api = await callAPI(grant.access_token, input.api_url);

  const refresh = async (refreshToken) =>
    oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth, refreshToken, insecure));
  const refreshed = await refresh(grant.refresh_token);
  result.refreshed = {
    ...describeToken(refreshed),
    access_token_changed: refreshed.access_token !== grant.access_token,
    refresh_token_rotated: refreshed.refresh_token !== undefined && refreshed.refresh_token !== grant.refresh_token,
  };
  if (input.oidc && refreshed.id_token) {
    result.refreshed.id_token = { alg: jwsAlg(refreshed.id_token), claims: oauth.getValidatedIdTokenClaims(refreshed) };
  }
  result.api_after_refresh = await callAPI(refreshed.access_token, input.api_url);

  const current = refreshed.refresh_token ?? grant.refresh_token;
  await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, current, insecure));
  result.refresh_after_revocation = await expectFailure(() => refresh(current));

  // The code is one-use (last: presenting it again revokes what it gave, RFC 6749 §4.1.2).
  result.code_replay = await expectFailure(exchange);
  return result;
});

function describeToken(t) {
  return { ...pick(t, ['token_type', 'expires_in', 'scope']), has_refresh_token: typeof t.refresh_token === 'string', has_id_token: typeof t.id_token === 'string' };
}

// jwsAlg reads the alg of a JWS's protected header, to report it; the library has
// already checked the signature with it.
function jwsAlg(jws) {
  return JSON.parse(Buffer.from(jws.split('.')[0], 'base64url').toString()).alg;
}

async function callAPI(token, url) {
  try {
    const res = await oauth.protectedResourceRequest(token, 'GET', new URL(url), new Headers(), null, insecure);
    return { status: res.status };
  } catch (err) {
    return describeRefusal(err);
  }
}

// challengeOf runs a request that should be refused and reports the refusal.
async function challengeOf(fn) {
  try {
    await fn();
    return { succeeded: true };
  } catch (err) {
    return describeRefusal(err);
  }
}

// describeRefusal reports the status and the Bearer challenges (RFC 6750) the library
// read from a refusal, or the error itself.
function describeRefusal(err) {
  if (err instanceof oauth.WWWAuthenticateChallengeError) {
    return {
      status: err.response.status,
      challenges: err.cause.map((c) => ({ scheme: c.scheme, error: c.parameters.error, scope: c.parameters.scope })),
    };
  }
  return { failed: describeError(err) };
}
