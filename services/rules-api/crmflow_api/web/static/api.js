// The JSON API client. The practice's API key lives in sessionStorage only (gone when the tab
// closes) and travels only in the Authorization header, never in a URL.

const KEY = "crmflow.apiKey";

export const session = {
  key: () => sessionStorage.getItem(KEY),
  signIn: (apiKey) => sessionStorage.setItem(KEY, apiKey),
  signOut: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : `request failed (${status})`);
    this.status = status;
    this.detail = detail;
  }

  /** FastAPI's 422 items ({loc, msg, type}), or [] for other errors. */
  get fieldErrors() {
    return this.status === 422 && Array.isArray(this.detail) ? this.detail : [];
  }
}

/** ``onUnauthorized`` runs on any 401 (key revoked or wrong) before the error is thrown. */
export function createApi(onUnauthorized) {
  async function request(method, path, { body, query } = {}) {
    const url = new URL(path, location.origin);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
    }
    const headers = { Accept: "application/json", Authorization: `Bearer ${session.key() ?? ""}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch {
      throw new ApiError(0, "cannot reach the rules-api (is it running?)");
    }
    const text = await response.text();
    let payload = null;
    try {
      payload = text ? JSON.parse(text) : null;
    } catch {
      payload = text;
    }
    if (response.status === 401) onUnauthorized();
    if (!response.ok) {
      throw new ApiError(response.status, payload?.detail ?? payload ?? response.statusText);
    }
    return { status: response.status, body: payload };
  }

  return {
    get: (path, query) => request("GET", path, { query }).then((r) => r.body),
    post: (path, body) => request("POST", path, { body }),
    patch: (path, body) => request("PATCH", path, { body }).then((r) => r.body),
    del: (path) => request("DELETE", path),
  };
}

/** A message for people from any error thrown by the client. */
export function describeError(error) {
  if (!(error instanceof ApiError)) return String(error?.message ?? error);
  if (error.fieldErrors.length) {
    return error.fieldErrors.map((e) => `${(e.loc ?? []).join(".")}: ${e.msg}`).join("; ");
  }
  return typeof error.detail === "string" ? error.detail : JSON.stringify(error.detail);
}
