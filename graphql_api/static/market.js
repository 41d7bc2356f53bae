/* TradeWatch market overview page: every Currency Exchange item of a league, from `market`. */
(function () {
  "use strict";
  const KEY_STORAGE = "tradewatch.apiKey";
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const state = { realm: (params.get("realm") || "PC").toUpperCase(), league: params.get("league") || "",
                  category: params.get("category") || "", search: params.get("search") || "",
                  order: params.get("order") || "VALUE_DESC", after: null, seq: 0 };

  const gql = (query, variables) => window.tradewatchGraphQL(query, variables);  // persisted_queries.js

  function showErrors(errors) {
    const box = $("errors");
    box.textContent = (errors || []).map((e) => e.message).join("\n");
    box.hidden = !errors || !errors.length;
  }

  const fmt = (v, digits) => v === null || v === undefined ? "—" :
    (Math.abs(v) >= 1000 ? v.toLocaleString("en", { maximumFractionDigits: 0 }) : v.toPrecision(digits || 4));
  function pct(v) {
    const span = document.createElement("span");
    if (v === null || v === undefined) { span.textContent = "—"; return span; }
    span.textContent = (v >= 0 ? "+" : "") + (100 * v).toFixed(1) + " %";
    span.className = v >= 0 ? "up" : "down";
    return span;
  }

  function sparkline(values) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", "90"); svg.setAttribute("height", "24"); svg.setAttribute("class", "spark");
    const present = values.filter((v) => v !== null);
    if (present.length < 2) return svg;
    const lo = Math.min(...present), hi = Math.max(...present), span = hi - lo || 1;
    const points = values.map((v, i) => v === null ? null : `${(i * 88 / (values.length - 1) + 1).toFixed(1)},${(22 - (v - lo) / span * 20).toFixed(1)}`)
      .filter((p) => p !== null).join(" ");
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points); line.setAttribute("fill", "none");
    line.setAttribute("stroke", present[present.length - 1] >= present[0] ? "#18794e" : "#c0392b");
    line.setAttribute("stroke-width", "1.5");
    svg.appendChild(line);
    return svg;
  }

  const MARKET = `query MarketPage($realm: Realm!, $league: String, $category: String, $search: String,
      $order: MarketOrder!, $after: String) {
    c: market(realm: $realm, league: $league, category: $category, search: $search, orderBy: $order, currency: CHAOS,
              first: 100, after: $after) {
      hour totalCount pageInfo { hasNextPage endCursor }
      nodes { item { id name category image named } price change24h change7d volume24h value24h lowConfidence sparkline } }
    d: market(realm: $realm, league: $league, category: $category, search: $search, orderBy: $order,
              currency: DIVINE, first: 500) { nodes { item { id } price } } }`;

  function url() {
    const q = new URLSearchParams({ realm: state.realm });
    if (state.league) q.set("league", state.league);
    if (state.category) q.set("category", state.category);
    if (state.search) q.set("search", state.search);
    if (state.order !== "VALUE_DESC") q.set("order", state.order);
    return "/dashboard/market?" + q.toString();
  }

  async function load(append) {
    const seq = ++state.seq;
    document.body.dataset.state = "loading";
    $("status").textContent = "loading…";
    if (!append) state.after = null;
    const body = await gql(MARKET, { realm: state.realm, league: state.league || null, category: state.category || null,
                                     search: state.search || null, order: state.order, after: state.after });
    if (seq !== state.seq) return;
    showErrors(body.errors);
    history.replaceState(null, "", url());
    const tbody = $("market").querySelector("tbody");
    if (!append) tbody.textContent = "";
    if (!body.data) { document.body.dataset.state = "error"; $("status").textContent = ""; return; }
    const page = body.data.c, divine = new Map(body.data.d.nodes.map((n) => [n.item.id, n.price]));
    for (const row of page.nodes) {
      const tr = document.createElement("tr");
      tr.dataset.item = row.item.id;
      const name = document.createElement("td");
      const a = document.createElement("a");
      a.href = "/dashboard/item/" + encodeURIComponent(row.item.id) + "?realm=" + state.realm +
               (state.league ? "&league=" + encodeURIComponent(state.league) : "");
      a.textContent = row.item.name;
      a.className = "item-name";
      name.appendChild(a);
      if (row.item.category) { const c = document.createElement("small"); c.textContent = " " + row.item.category; name.appendChild(c); }
      tr.appendChild(name);
      const cells = [fmt(row.price), fmt(divine.has(row.item.id) ? divine.get(row.item.id) : null)];
      for (const text of cells) { const td = document.createElement("td"); td.className = "num"; td.textContent = text; tr.appendChild(td); }
      for (const v of [row.change24h, row.change7d]) { const td = document.createElement("td"); td.className = "num"; td.appendChild(pct(v)); tr.appendChild(td); }
      for (const v of [row.volume24h, row.value24h]) { const td = document.createElement("td"); td.className = "num"; td.textContent = fmt(v); tr.appendChild(td); }
      const spark = document.createElement("td"); spark.appendChild(sparkline(row.sparkline)); tr.appendChild(spark);
      const conf = document.createElement("td");
      conf.textContent = row.lowConfidence ? "⚠ low" : "ok";
      conf.className = row.lowConfidence ? "low-confidence" : "";
      tr.appendChild(conf);
      tbody.appendChild(tr);
    }
    state.after = page.pageInfo.endCursor;
    $("more").hidden = !page.pageInfo.hasNextPage;
    $("market-count").textContent = `${page.totalCount} items`;
    $("market-hour").textContent = page.hour ? "as of " + page.hour.replace("T", " ").slice(0, 16) + " UTC" : "nothing stored yet";
    $("status").textContent = "";
    document.body.dataset.state = "ready";
  }

  async function loadCategories() {
    const body = await gql("query Categories($realm: Realm!) { categories(realm: $realm) }", { realm: state.realm });
    const box = $("categories");
    box.textContent = "";
    for (const name of ["", ...((body.data && body.data.categories) || [])]) {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = name || "All"; b.setAttribute("role", "tab");
      b.className = "chip" + (name === state.category ? " on" : "");
      b.addEventListener("click", () => { state.category = name; loadCategories(); load(false); });
      box.appendChild(b);
    }
  }

  async function loadLeagues() {
    const body = await gql("query Leagues { leagues { name source isDefault } }", {});
    const list = $("league-list");
    list.textContent = "";
    for (const l of ((body.data && body.data.leagues) || []).filter((l) => l.source !== "book")) {
      const o = document.createElement("option"); o.value = l.name; list.appendChild(o);
    }
  }

  function init() {
    $("realm").value = state.realm;
    $("league").value = state.league;
    $("search").value = state.search;
    $("api-key").value = sessionStorage.getItem(KEY_STORAGE) || "";
    $("item-link").href = "/dashboard/item/divine?realm=" + state.realm;
    $("realm").addEventListener("change", () => { state.realm = $("realm").value; state.category = ""; loadCategories(); load(false); });
    $("league").addEventListener("change", () => { state.league = $("league").value.trim(); load(false); });
    let timer = null;
    $("search").addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => { state.search = $("search").value.trim(); load(false); }, 250);
    });
    $("api-key").addEventListener("change", () => {
      const key = $("api-key").value.trim();
      if (key) sessionStorage.setItem(KEY_STORAGE, key); else sessionStorage.removeItem(KEY_STORAGE);
      load(false);
    });
    for (const th of document.querySelectorAll("th.sortable")) {
      th.addEventListener("click", () => {
        const desc = th.dataset.order, asc = th.dataset.asc;
        state.order = state.order === desc && asc ? asc : desc;
        load(false);
      });
    }
    $("more").addEventListener("click", () => load(true));
    loadLeagues();
    loadCategories();
    load(false);
  }
  init();
})();
