/* The pages' one GraphQL client: Apollo's automatic persisted queries. A query goes as its SHA-256
   alone, in a GET (cacheable by the browser and any CDN); on PersistedQueryNotFound the text is sent
   once with its hash (POST). The API key the user typed (sessionStorage) goes with every request.
   window.tradewatchGraphQL(query, variables) resolves to the answer's JSON, or to an answer with one
   coded error (NETWORK_ERROR, HTTP_<status>) when there is none. */
(function () {
  "use strict";
  const KEY_STORAGE = "tradewatch.apiKey";
  const REQUEST_TIMEOUT_MS = 60000;

  async function sha256Hex(text) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  const notPersisted = (body) => Array.isArray(body && body.errors) && body.errors.some(
    (e) => e.message === "PersistedQueryNotFound" || (e.extensions && e.extensions.code === "PERSISTED_QUERY_NOT_FOUND"));

  async function send(method, url, body) {
    const headers = { Accept: "application/json" };
    if (body !== null) headers["Content-Type"] = "application/json";
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers["X-API-Key"] = key;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
    let response;
    try {
      response = await fetch(url, { method, headers, credentials: "same-origin", signal: abort.signal,
                                    ...(body !== null ? { body } : {}) });
    } catch (err) {
      clearTimeout(timer);
      const why = err.name === "AbortError" ? "no answer within " + REQUEST_TIMEOUT_MS / 1000 + " s" : err.message;
      return { data: null, errors: [{ message: "The API could not be reached: " + why, extensions: { code: "NETWORK_ERROR" } }] };
    }
    let parsed = null;
    try {
      parsed = await response.json();
    } catch (_) {
      // not JSON (e.g. a proxy's error page): report the HTTP status below
    } finally {
      clearTimeout(timer);
    }
    if (!parsed || typeof parsed !== "object") {
      return { data: null, errors: [{ message: `HTTP ${response.status} ${response.statusText} from /graphql`,
                                      extensions: { code: "HTTP_" + response.status } }] };
    }
    return parsed;
  }

  window.tradewatchGraphQL = async function (query, variables) {
    if (!(window.crypto && crypto.subtle)) {  // not a secure context: plain POST
      return send("POST", "/graphql", JSON.stringify({ query, variables }));
    }
    const extensions = { persistedQuery: { version: 1, sha256Hash: await sha256Hex(query) } };
    const params = new URLSearchParams({ variables: JSON.stringify(variables || {}), extensions: JSON.stringify(extensions) });
    const hashed = await send("GET", "/graphql?" + params.toString(), null);
    if (!notPersisted(hashed)) return hashed;
    return send("POST", "/graphql", JSON.stringify({ query, variables, extensions }));
  };
})();
