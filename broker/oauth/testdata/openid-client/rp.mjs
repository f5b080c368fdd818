// A relying party built on the certified openid-client library, driven step by step by
// Gatehouse's Go interoperability tests. Usage: node rp.mjs <step> '<json input>'.
// Each step prints one JSON object; a library refusal prints {"error": …} and exits 1.
// openid-client runs its default, strict checks throughout (issuer, state, nonce,
// PKCE, RFC 9207 iss, ID token signature and claims).
import * as client from 'openid-client';

const [step, raw] = process.argv.slice(2);
const input = JSON.parse(raw ?? '{}');

async function config() {
  const auth = input.auth === 'post' ? client.ClientSecretPost(input.clientSecret) : client.ClientSecretBasic(input.clientSecret);
  return client.discovery(new URL(input.issuer), input.clientId, undefined, auth);
}

// codeGrant redeems the code in the callback URL, checking iss, state, nonce and the
// ID token.
function codeGrant(cfg) {
  return client.authorizationCodeGrant(cfg, new URL(input.callbackUrl), {
    pkceCodeVerifier: input.verifier,
    expectedState: input.state,
    expectedNonce: input.nonce,
    idTokenExpected: true,
  });
}

const steps = {
  // start: discovery and an authorization URL with PKCE, state and nonce.
  async start() {
    const cfg = await config();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const params = {
      redirect_uri: input.redirectUri,
      scope: input.scope,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    };
    if (input.resource) params.resource = input.resource;
    Object.assign(params, input.extra ?? {}); // e.g. prompt, id_token_hint
    const url = client.buildAuthorizationUrl(cfg, params);
    return { url: url.href, verifier, state, nonce, metadata: cfg.serverMetadata() };
  },

  // finish: the code grant from the callback URL, then userinfo, refresh,
  // introspection and revocation, reporting what each returned.
  async finish() {
    const cfg = await config();
    const tokens = await codeGrant(cfg);
    const idClaims = tokens.claims();
    const userinfo = await client.fetchUserInfo(cfg, tokens.access_token, idClaims.sub);
    const refreshed = await client.refreshTokenGrant(cfg, tokens.refresh_token);
    const introspected = await client.tokenIntrospection(cfg, refreshed.access_token);
    await client.tokenRevocation(cfg, refreshed.refresh_token);
    const afterRevocation = await client.tokenIntrospection(cfg, refreshed.refresh_token);
    let reuse;
    try {
      await client.refreshTokenGrant(cfg, tokens.refresh_token);
      reuse = 'accepted';
    } catch (e) {
      reuse = e.error ?? e.code ?? String(e);
    }
    return {
      tokens: { ...tokens },
      idClaims,
      userinfo,
      refreshed: { ...refreshed, idClaims: refreshed.id_token ? refreshed.claims() : null },
      introspected,
      afterRevocation,
      reuse,
    };
  },

  // code: only the code grant from the callback URL, with the same checks as finish.
  async code() {
    const cfg = await config();
    const tokens = await codeGrant(cfg);
    return { tokens: { ...tokens }, idClaims: tokens.claims() };
  },

  // clientCredentials: a machine-to-machine token.
  async clientCredentials() {
    const cfg = await config();
    const params = { scope: input.scope };
    if (input.resource) params.resource = input.resource;
    const tokens = await client.clientCredentialsGrant(cfg, params);
    const introspected = await client.tokenIntrospection(cfg, tokens.access_token);
    return { tokens: { ...tokens }, introspected };
  },
};

try {
  if (!steps[step]) throw new Error(`unknown step ${step}`);
  process.stdout.write(JSON.stringify(await steps[step]()) + '\n');
} catch (e) {
  process.stdout.write(JSON.stringify({ error: e.message, code: e.code ?? null, oauthError: e.error ?? null, cause: e.cause?.message ?? null }) + '\n');
  process.exit(1);
}
