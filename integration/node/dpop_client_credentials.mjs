// DPoP (RFC 9449) with server nonces, through oauth4webapi, by a machine client that
// authenticates with private_key_jwt (RFC 7523) and is registered to use DPoP always:
// its first token request is refused with use_dpop_nonce (§8) and passes on the library's
// retry with the cached nonce; a request without a proof is refused (invalid_dpop_proof);
// the token is DPoP-bound, and introspection names the key's thumbprint.
//
// Then the guarded API (needs oauth_guard's DPoP support, built apart): the token with a
// proof of the key is accepted; as a Bearer token, or with another key's proof, it is not.
//
// Input: {"issuer", "client_id", "private_jwk", "scope", "api_url"}
import * as oauth from 'oauth4webapi';
import { callAPI, clientAuth, insecure, withNonceRetry } from './dpop.mjs';
import { expectFailure, main, pick } from './io.mjs';

await main(async (input) => {
  const issuer = new URL(input.issuer);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  const client = { client_id: input.client_id };
  const auth = await clientAuth(input.private_jwk);
  const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
  const other = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
  const result = {
    metadata: pick(as, ['dpop_signing_alg_values_supported']),
    jkt: await DPoP.calculateThumbprint(),
    nonce_challenges: {},
  };
  const request = (options) => async () => oauth.processClientCredentialsResponse(as, client,
    await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ scope: input.scope }), { ...options, ...insecure }));

  result.without_proof = await expectFailure(request({}));
  const grant = await withNonceRetry(result.nonce_challenges, 'token', request({ DPoP }));
  result.token = pick(grant, ['token_type', 'scope']);
  // The nonce the last answer carried is good for the next request.
  const again = await withNonceRetry(result.nonce_challenges, 'second_token', request({ DPoP }));
  result.second_token = pick(again, ['token_type']);

  const info = await oauth.processIntrospectionResponse(as, client,
    await oauth.introspectionRequest(as, client, auth, grant.access_token, insecure));
  result.introspection = { ...pick(info, ['active', 'client_id', 'token_type']), cnf_jkt: info.cnf?.jkt };

  // The guarded API (oauth_guard's DPoP support).
  const api = new URL(input.api_url);
  result.api = await callAPI(grant.access_token, api, DPoP);
  result.api_as_bearer = await callAPI(grant.access_token, api, undefined);
  result.api_other_key = await callAPI(grant.access_token, api, other);
  return result;
});
