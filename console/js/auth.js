// Sign-in: OAuth 2.0 authorization code with PKCE (RFC 7636) against the endpoints config.json
// names: the user pool's hosted UI on AWS, the local cloud's sign-in page locally.
//
// Tokens live in sessionStorage: they last as long as the tab, are not shared with other tabs
// or sites, and are gone when the tab closes or the merchant signs out. The console sends the ID
// token (it carries custom:merchant_id) and renews it with the refresh token a minute before it
// expires. Nothing is kept in localStorage or cookies but the language choice.

const SESSION = "orderhub.session";
const PENDING = "orderhub.signin";
let config = null;

export function configure(cfg) {
  config = cfg;
}

function b64url(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(n = 32) {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}

function redirectUri() {
  return location.origin + "/";
}

function decode(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      atob(part).split("").map((c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
    );
    return JSON.parse(json);
  } catch {
    return {};
  }
}

function save(tokens, previous = {}) {
  const claims = decode(tokens.id_token);
  const session = {
    id_token: tokens.id_token,
    refresh_token: tokens.refresh_token || previous.refresh_token || null,
    expires_at: (claims.exp ? claims.exp * 1000 : Date.now() + (tokens.expires_in || 3600) * 1000),
  };
  sessionStorage.setItem(SESSION, JSON.stringify(session));
  return session;
}

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION) || "null");
  } catch {
    return null;
  }
}

async function tokenRequest(params) {
  const resp = await fetch(config.auth.token_url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: config.auth.client_id, ...params }),
  });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body.error_description || body.error || `sign-in failed (${resp.status})`);
  return body;
}

/** Go to the sign-in page; come back to `returnTo` (a #route) after. */
export async function signIn(returnTo = location.hash) {
  const verifier = randomString(48);
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = randomString(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, returnTo }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.auth.client_id,
    redirect_uri: redirectUri(),
    scope: config.auth.scope || "openid email profile",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  location.assign(`${config.auth.authorize_url}?${query}`);
}

/** Finish a sign-in when the page was opened with ?code=&state= (true: signed in now). */
export async function completeSignIn() {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return false;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, "", location.pathname + (pending?.returnTo || "#/orders"));
  if (params.has("error")) throw new Error(params.get("error_description") || params.get("error"));
  if (!pending || pending.state !== params.get("state")) throw new Error("the sign-in answer does not match this tab's request");
  const tokens = await tokenRequest({
    grant_type: "authorization_code",
    code: params.get("code"),
    redirect_uri: redirectUri(),
    code_verifier: pending.verifier,
  });
  save(tokens);
  return true;
}

export function signedIn() {
  return !!load();
}

/** The claims of the current ID token (merchant id, e-mail). */
export function who() {
  const s = load();
  if (!s) return null;
  const c = decode(s.id_token);
  return { merchant_id: c["custom:merchant_id"] || c.merchant_id, email: c.email, name: c.name };
}

let refreshing = null;

/** A valid ID token: renewed with the refresh token when it expires within a minute. */
export async function idToken({ force = false } = {}) {
  const s = load();
  if (!s) return null;
  if (!force && s.expires_at - Date.now() > 60_000) return s.id_token;
  if (!s.refresh_token) return null;
  refreshing ||= tokenRequest({ grant_type: "refresh_token", refresh_token: s.refresh_token })
    .then((t) => save(t, s).id_token)
    .catch(() => {
      sessionStorage.removeItem(SESSION);
      return null;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

/** Sign out: forget the tokens, revoke the refresh token, end the hosted UI's session. */
export async function signOut() {
  const s = load();
  sessionStorage.removeItem(SESSION);
  if (s?.refresh_token && config.auth.token_url) {
    const revoke = config.auth.token_url.replace(/\/token$/, "/revoke");
    await fetch(revoke, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: s.refresh_token, client_id: config.auth.client_id }),
    }).catch(() => {});
  }
  const query = new URLSearchParams({ client_id: config.auth.client_id, logout_uri: redirectUri() });
  location.assign(`${config.auth.logout_url}?${query}`);
}
