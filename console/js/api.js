// The merchant API, and nothing else: every rule is the API's. An answer that is not 2xx
// becomes an ApiError carrying the API's error body ({code, message, field, rule, status,
// allowed_actions...}) so a screen can show it next to the field it names.
import { idToken, signIn } from "./auth.js";

let base = "";

export function configure(apiUrl) {
  base = apiUrl.replace(/\/$/, "");
}

export class ApiError extends Error {
  constructor(status, body, correlationId = null) {
    const err = (body && body.error) || {};
    super(err.message || (body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || (status === 401 ? "unauthorized" : "error");
    this.field = err.field || null;
    this.details = err;
    this.body = body;
    this.correlationId = correlationId; // X-Correlation-Id: what an operator finds the request's logs by
  }
}

function url(path, query) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") q.set(k, v);
  }
  const s = q.toString();
  return base + path + (s ? `?${s}` : "");
}

async function send(method, path, { query, body, raw, contentType, accept } = {}, retried = false) {
  const token = await idToken();
  if (!token) {
    await signIn();
    throw new ApiError(401, { error: { code: "unauthorized", message: "signing in" } });
  }
  const headers = { authorization: `Bearer ${token}` };
  let payload;
  if (raw !== undefined) {
    payload = raw;
    headers["content-type"] = contentType || "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["content-type"] = "application/json";
  }
  const resp = await fetch(url(path, query), { method, headers, body: payload });
  if (resp.status === 401 && !retried) {
    const fresh = await idToken({ force: true });
    if (fresh) return send(method, path, { query, body, raw, contentType, accept }, true);
    await signIn();
  }
  if (accept === "blob" && resp.ok) return resp.blob();
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (!resp.ok) throw new ApiError(resp.status, data, resp.headers.get("x-correlation-id"));
  return data;
}

export const api = {
  get: (path, query, opts = {}) => send("GET", path, { query, ...opts }),
  post: (path, body, opts = {}) => send("POST", path, { body, ...opts }),
  put: (path, body, opts = {}) => send("PUT", path, { body, ...opts }),
  patch: (path, body, opts = {}) => send("PATCH", path, { body, ...opts }),
  del: (path, opts = {}) => send("DELETE", path, opts),
};
