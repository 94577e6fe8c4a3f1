// What the DPoP scripts (RFC 9449) share: private_key_jwt client authentication, the
// retry on use_dpop_nonce, and calls to the guarded API.
import * as oauth from 'oauth4webapi';
import { describeError } from './io.mjs';

export const insecure = { [oauth.allowInsecureRequests]: true }; // plain http on 127.0.0.1 only

// clientAuth is private_key_jwt (RFC 7523) with the EC P-256 private JWK jwk.
export async function clientAuth(jwk) {
  const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  return oauth.PrivateKeyJwt({ key, kid: jwk.kid });
}

// withNonceRetry runs a request and the processing of its answer, and once more if the
// server asked for a DPoP nonce (RFC 9449 §8): the DPoP handle cached the one the
// refusal carried. What the refusal said is kept in challenges[name].
export async function withNonceRetry(challenges, name, fn) {
  try {
    return await fn();
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) {
      throw err;
    }
    challenges[name] = describeError(err);
    return fn();
  }
}

// callAPI calls the API with the token (with DPoP proofs when a handle is given, retrying
// once if the API asks for its own nonce) and reports the status, or what the library
// read from a refusal's WWW-Authenticate challenge.
export async function callAPI(token, url, DPoP) {
  const call = async () => {
    const res = await oauth.protectedResourceRequest(token, 'GET', url, new Headers(), null, { ...(DPoP ? { DPoP } : {}), ...insecure });
    return { status: res.status };
  };
  try {
    return await withNonceRetry({}, 'api', call);
  } catch (err) {
    const challenge = Array.isArray(err?.cause) ? err.cause[0] : undefined;
    return { ...describeError(err), scheme: challenge?.scheme, challenge_error: challenge?.parameters?.error };
  }
}
