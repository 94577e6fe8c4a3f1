// A device without a browser (a TV, a CLI) through openid-client: the device
// authorization request (RFC 8628 §3.1) at the endpoint found by discovery, then the
// library's own polling of the token endpoint (interval, authorization_pending,
// slow_down) while a person signs in at verification_uri_complete and approves or denies;
// with "openid" in the scope, the ID token is validated by the library and userinfo
// fetched; the token is used at an API behind oauth_guard.
//
// Input: {"issuer", "client_id", "client_secret"?, "scope", "api_url"?, "oidc": bool}
// Steps: prints {"step": "device_authorization", ...} and polls without waiting for an
// answer; the result says whether the library got tokens or which error ended polling.
import * as client from 'openid-client';
import { describeError, main, pick, tell } from './io.mjs';

await main(async (input) => {
  const config = await client.discovery(
    new URL(input.issuer),
    input.client_id,
    undefined,
    input.client_secret ? client.ClientSecretBasic(input.client_secret) : client.None(),
    // plain http on 127.0.0.1 only: the library's documented opt-in.
    { execute: [client.allowInsecureRequests], algorithm: input.oidc ? 'oidc' : 'oauth2' },
  );
  const metadata = config.serverMetadata();
  const da = await client.initiateDeviceAuthorization(config, { scope: input.scope });
  tell('device_authorization', pick(da, ['user_code', 'verification_uri', 'verification_uri_complete', 'expires_in', 'interval']));

  const started = Date.now();
  let tokens;
  try {
    tokens = await client.pollDeviceAuthorizationGrant(config, da);
  } catch (err) {
    return { device_authorization_endpoint: metadata.device_authorization_endpoint, polling_failed: describeError(err), seconds: (Date.now() - started) / 1000 };
  }
  const result = {
    device_authorization_endpoint: metadata.device_authorization_endpoint,
    seconds: (Date.now() - started) / 1000,
    token: {
      ...pick(tokens, ['token_type', 'expires_in', 'scope']),
      has_refresh_token: typeof tokens.refresh_token === 'string',
      has_id_token: typeof tokens.id_token === 'string',
    },
  };
  if (tokens.id_token) {
    const claims = tokens.claims();
    result.id_token = { alg: JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url').toString()).alg, claims };
    result.userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  }
  if (input.api_url) {
    try {
      const res = await client.fetchProtectedResource(config, tokens.access_token, new URL(input.api_url), 'GET');
      result.api = { status: res.status };
    } catch (err) {
      result.api = err instanceof client.WWWAuthenticateChallengeError ? { status: err.response.status } : { failed: describeError(err) };
    }
  }
  return result;
});
