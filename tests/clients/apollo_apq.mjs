// Runs GraphQL queries through Apollo Client with its automatic-persisted-queries link, hashed
// queries sent as GET (the way a CDN-cached dashboard would), and prints what it got.
// usage: node apollo_apq.mjs <graphql url>  < [{"query": "...", "variables": {...}}, ...]
// prints: {"results": [{"data": ..., "errors": ...}], "requests": [{"method", "hasQuery", "status"}]}
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const url = process.argv[2];
const operations = JSON.parse(readFileSync(0, "utf8"));
const requests = [];

async function countingFetch(input, init) {
  const target = new URL(typeof input === "string" ? input : input.url);
  const method = (init && init.method) || "GET";
  const hasQuery = method === "GET" ? target.searchParams.has("query")
                                    : JSON.parse(init.body).query !== undefined;
  const response = await fetch(input, init);
  requests.push({ method, hasQuery, status: response.status });
  return response;
}

const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const link = new PersistedQueryLink({ sha256, useGETForHashedQueries: true })
  .concat(new HttpLink({ uri: url, fetch: countingFetch }));
const client = new ApolloClient({ link, cache: new InMemoryCache() });

const strip = (value) => {
  if (Array.isArray(value)) return value.map(strip);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).filter(([k]) => k !== "__typename").map(([k, v]) => [k, strip(v)]));
  }
  return value;
};

const results = [];
for (const op of operations) {
  try {
    const result = await client.query({ query: gql(op.query), variables: op.variables || {}, fetchPolicy: "no-cache",
                                        errorPolicy: "all" });
    results.push({ data: strip(result.data ?? null), errors: result.error ? [String(result.error.message)] : null });
  } catch (err) {
    results.push({ data: null, errors: [String(err && err.message)] });
  }
}
process.stdout.write(JSON.stringify({ results, requests }));
