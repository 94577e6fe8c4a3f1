// A confidential web application through openid-client: discovery, the authorization code
// flow with PKCE (S256), state and (with "oidc") nonce, the callback processed by the
// library; with "oidc" the ID token validated by the library (RS256 signature over the
// JWKS, iss, aud, exp, nonce, and auth_time against "max_age" if given) and userinfo
// fetched (the library requires its sub to match the ID token's); the access token used
// at an API behind oauth_guard; introspection; a refresh (with "oidc", its new ID token
// validated too); with "post_logout_redirect_uri", RP-initiated logout: the end-session
// URL built by the library, followed by the browser; last, the refresh token revoked,
// after which introspection calls the access token inactive.
//
// Input: {"issuer", "client_id", "client_secret", "redirect_uri", "scope", "api_url",
//         "oidc": bool, "max_age"?: seconds, "post_logout_redirect_uri"?}
// Steps: prints {"step": "authorize", "authorization_url"}, reads {"callback_url"};
// with post_logout_redirect_uri, prints {"step": "end_session", "end_session_url"} (it
// carries the id_token_hint: never log it) and reads {"landed_url"}.
import * as client from 'openid-client';
import { ask, describeError, expectFailure, main, pick } from './io.mjs';

await main(async (input) => {
  const config = await client.discovery(
    new URL(input.issuer),
    input.client_id,
    { redirect_uris: [input.redirect_uri], response_types: ['code'] },
    client.ClientSecretBasic(input.client_secret),
    // plain http on 127.0.0.1 only: the library's documented opt-in.
    { execute: [client.allowInsecureRequests], algorithm: input.oidc ? 'oidc' : 'oauth2' },
  );
  const metadata = config.serverMetadata();

  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = input.oidc ? client.randomNonce() : undefined;
  const parameters = {
    redirect_uri: input.redirect_uri,
    scope: input.scope,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
  };
  if (nonce) {
    parameters.nonce = nonce;
  }
  if (input.max_age !== undefined) {
    parameters.max_age = String(input.max_age);
  }
  const authorizationURL = client.buildAuthorizationUrl(config, parameters);
  const { callback_url: callbackURL } = await ask('authorize', { authorization_url: authorizationURL.href });

  const tokens = await client.authorizationCodeGrant(config, new URL(callbackURL), {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: Boolean(input.oidc),
    // With max_age sent, the library requires auth_time in the ID token, within it.
    maxAge: input.max_age,
  });
  const result = {
    metadata: pick(metadata, ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint', 'end_session_endpoint', 'id_token_signing_alg_values_supported', 'scopes_supported', 'subject_types_supported', 'claims_supported']),
    token: describeToken(tokens),
  };

  let claims;
  if (input.oidc) {
    claims = tokens.claims();
    result.id_token = { alg: jwsAlg(tokens.id_token), claims, nonce_matches: claims.nonce === nonce };
    result.userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    result.userinfo_wrong_subject = await expectFailure(() => client.fetchUserInfo(config, tokens.access_token, `${claims.sub}-someone-else`));
  }

  result.api = await callAPI(config, tokens.access_token, input.api_url);
  result.introspection = pick(await client.tokenIntrospection(config, tokens.access_token), ['active', 'client_id', 'scope', 'sub', 'token_type']);

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  result.refreshed = { ...describeToken(refreshed), access_token_changed: refreshed.access_token !== tokens.access_token };
  if (input.oidc && refreshed.id_token) {
    const rc = refreshed.claims();
    result.refreshed.id_token = { alg: jwsAlg(refreshed.id_token), claims: rc, id_token_changed: refreshed.id_token !== tokens.id_token };
  }

  if (input.post_logout_redirect_uri) {
    const logoutState = client.randomState();
    const endSessionURL = client.buildEndSessionUrl(config, {
      id_token_hint: refreshed.id_token ?? tokens.id_token,
      post_logout_redirect_uri: input.post_logout_redirect_uri,
      state: logoutState,
    });
    const { landed_url: landed } = await ask('end_session', { end_session_url: endSessionURL.href });
    const landedURL = new URL(landed);
    result.logout = {
      end_session_endpoint_used: endSessionURL.origin + endSessionURL.pathname,
      landed_on: landedURL.origin + landedURL.pathname,
      state_echoed: landedURL.searchParams.get('state') === logoutState,
    };
  }

  const latestRefresh = refreshed.refresh_token ?? tokens.refresh_token;
  await client.tokenRevocation(config, latestRefresh);
  result.introspection_after_revocation = pick(await client.tokenIntrospection(config, refreshed.access_token), ['active']);
  result.refresh_after_revocation = await expectFailure(() => client.refreshTokenGrant(config, latestRefresh));
  return result;
});

function describeToken(t) {
  return {
    ...pick(t, ['token_type', 'expires_in', 'scope']),
    has_refresh_token: typeof t.refresh_token === 'string',
    has_id_token: typeof t.id_token === 'string',
  };
}

// jwsAlg reads the alg of a JWS's protected header, to report it; the library has
// already checked the signature with it.
function jwsAlg(jws) {
  return JSON.parse(Buffer.from(jws.split('.')[0], 'base64url').toString()).alg;
}

async function callAPI(config, token, url) {
  try {
    const res = await client.fetchProtectedResource(config, token, new URL(url), 'GET');
    return { status: res.status };
  } catch (err) {
    if (err instanceof client.WWWAuthenticateChallengeError) {
      return { status: err.response.status, challenges: err.cause.map((c) => ({ scheme: c.scheme, error: c.parameters.error })) };
    }
    return { failed: describeError(err) };
  }
}
