// A real OpenID provider for tests/e2e/external_provider.rs: oidc-provider with the client
// credentials grant, issuing RFC 9068 JWT access tokens (RS256, its development keys) for the
// API's audience, with the role each client's account has.
//
//   PORT=…  AUDIENCE=https://delivery.test/api  node tests/oidc/provider.mjs
//
// Clients (id: secret, role): ext-r-1 (restaurant, has an account in the test),
// ext-nobody (restaurant, has none), ext-rider (rider claim, account is a restaurant).
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
// oidc-provider takes resource indicators as absolute URIs only (RFC 8707).
const audience = process.env.AUDIENCE ?? 'https://delivery.test/api';
const issuer = `http://127.0.0.1:${port}`;
const roles = { 'ext-r-1': 'restaurant', 'ext-nobody': 'restaurant', 'ext-rider': 'rider' };

const clients = Object.keys(roles).map((id) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: 'client_secret_post',
}));

const provider = new Provider(issuer, {
  clients,
  features: {
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (resource !== audience && resource !== 'https://elsewhere.example') {
          throw new Error(`unknown resource ${resource}`);
        }
        return { scope: '', audience: resource, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
      },
    },
  },
  extraTokenClaims: (ctx, token) => ({ role: roles[token.clientId] }),
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening at ${issuer}`);
});
