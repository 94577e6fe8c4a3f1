// Authorization server metadata through oauth4webapi: RFC 8414
// (/.well-known/oauth-authorization-server) with algorithm "oauth2", OpenID Connect
// Discovery (/.well-known/openid-configuration) with "oidc". The library checks that the
// document's issuer is the one asked for; the script prints the document it accepted.
//
// Input: {"issuer": "http://127.0.0.1:<port>", "algorithm": "oauth2" | "oidc"}
import * as oauth from 'oauth4webapi';
import { main } from './io.mjs';

await main(async ({ issuer, algorithm }) => {
  const issuerURL = new URL(issuer);
  const response = await oauth.discoveryRequest(issuerURL, {
    algorithm,
    // The tests' server is plain http on 127.0.0.1; this is the library's documented opt-in.
    [oauth.allowInsecureRequests]: true,
  });
  const metadata = await oauth.processDiscoveryResponse(issuerURL, response);
  return { requested: new URL(response.url).pathname, metadata };
});
