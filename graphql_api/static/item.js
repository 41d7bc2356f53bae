/* TradeWatch item page: one Currency Exchange item, its leagues and history (marketItem, exchangePrices). */
(function () {
  "use strict";
  const KEY_STORAGE = "tradewatch.apiKey";
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const itemId = decodeURIComponent(location.pathname.replace(/^\/dashboard\/item\//, ""));
  const HOUR = 3600 * 1000;
  const state = { realm: (params.get("realm") || "PC").toUpperCase(), league: params.get("league") || "",
                  range: params.get("range") || "7d", bucket: params.get("bucket") || "HOUR",
                  align: params.get("align") || "DATE", currency: params.get("currency") || "CHAOS",
                  item: null, leagues: [], shown: new Set(), watched: false, seq: 0 };

  const gql = (query, variables) => window.tradewatchGraphQL(query, variables);  // persisted_queries.js
  function showErrors(errors) {
    const box = $("errors");
    const text = (errors || []).map((e) => e.message).join("\n");
    box.textContent = text; box.hidden = !text;
  }
  const fmt = (v) => v === null || v === undefined ? "—" : (Math.abs(v) >= 1000 ? v.toLocaleString("en", { maximumFractionDigits: 0 }) : v.toPrecision(4));
  const hourText = (t) => t ? t.replace("T", " ").slice(0, 16) : "—";

  const ITEM = `query ItemPage($id: ID!, $realm: Realm!) {
    marketItem(id: $id, realm: $realm) {
      item { id name category metadataPath tradeId named goldFee image }
      leagues { league firstHour lastHour price priceDivine volume lowConfidence volumeTotal }
      markets { league quoteCurrency hours volume quoteVolume lastHour } }
    items { id } }`;

  function span(league) {
    const last = new Date(league.lastHour).getTime() + HOUR;
    const first = new Date(league.firstHour).getTime();
    const back = { "24h": 24 * HOUR, "7d": 168 * HOUR, "30d": 720 * HOUR }[state.range];
    if (state.align === "LEAGUE_DAY") {
      return { from: new Date(first), to: new Date(back ? Math.min(first + back, last) : last) };
    }
    return { from: new Date(back ? Math.max(first, last - back) : first), to: new Date(last) };
  }

  async function drawChart() {
    const seq = ++state.seq;
    const traces = [];
    const errors = [];
    const leagues = state.leagues.filter((l) => state.shown.has(l.league));
    const bucket = state.range === "all" && state.bucket === "HOUR" && state.align === "DATE" ? "DAY" : state.bucket;
    for (const league of leagues) {
      const s = span(league);
      const body = await gql(`query ItemSeries($league: String!, $items: [ID!], $currency: ExchangeCurrency!,
          $from: DateTime!, $to: DateTime!, $bucket: Bucket!, $realm: String!, $align: ExchangeAlign!) {
        exchangePrices(league: $league, items: $items, currency: $currency, from: $from, to: $to, bucket: $bucket,
                       realm: $realm, alignBy: $align) { time vwap volume age } }`,
        { league: league.league, items: [state.item.metadataPath], currency: state.currency, from: s.from.toISOString(),
          to: s.to.toISOString(), bucket, realm: state.realm.toLowerCase(), align: state.align });
      if (body.errors) { errors.push(...body.errors); continue; }
      const series = body.data.exchangePrices[0];
      const x = state.align === "LEAGUE_DAY" ? series.age.map((a) => a / (bucket === "HOUR" ? 24 : bucket === "WEEK" ? 1 / 7 : 1)) : series.time;
      traces.push({ x, y: series.vwap, name: league.league, type: "scatter", mode: "lines", yaxis: "y" });
      traces.push({ x, y: series.volume, name: league.league + " volume", type: "bar", yaxis: "y2", opacity: 0.35, showlegend: false });
    }
    if (state.watched && state.realm === "PC" && leagues.length) {
      const s = span(leagues[0]);
      const body = await gql(`query ItemBook($item: ID!, $league: String, $from: DateTime!, $to: DateTime!, $bucket: Bucket!, $currency: Currency) {
        priceSeries(item: $item, league: $league, from: $from, to: $to, bucket: $bucket, currency: $currency) { time close } }`,
        { item: state.item.id, league: leagues[0].league, from: s.from.toISOString(), to: s.to.toISOString(),
          bucket: bucket, currency: state.currency });
      if (!body.errors && body.data.priceSeries.length && state.align === "DATE") {
        const book = body.data.priceSeries[0];
        traces.push({ x: book.time, y: book.close, name: "order book: cheapest ask", type: "scatter", mode: "lines",
                      line: { dash: "dot" }, yaxis: "y" });
      }
    }
    if (seq !== state.seq) return;
    showErrors(errors);
    const layout = { margin: { t: 10, r: 50, l: 60, b: 40 }, legend: { orientation: "h" }, barmode: "overlay",
                     xaxis: { title: state.align === "LEAGUE_DAY" ? "league day" : "" },
                     yaxis: { title: "price (" + state.currency.toLowerCase() + ")" },
                     yaxis2: { title: "units", overlaying: "y", side: "right", showgrid: false } };
    if (window.Plotly) window.Plotly.react($("price-chart"), traces, layout, { displaylogo: false, responsive: true });
    document.body.dataset.state = "ready";
    $("status").textContent = "";
  }

  function segmented(id, key, attr) {
    for (const b of $(id).querySelectorAll("button")) {
      b.classList.toggle("active", b.dataset[attr] === state[key]);
      b.setAttribute("aria-pressed", String(b.dataset[attr] === state[key]));
      b.onclick = () => { state[key] = b.dataset[attr]; segmented(id, key, attr); drawChart(); };
    }
  }

  function fillTables(data) {
    const tbody = $("leagues").querySelector("tbody");
    tbody.textContent = "";
    for (const l of data.leagues) {
      const tr = document.createElement("tr");
      for (const text of [l.league, fmt(l.price), fmt(l.priceDivine), fmt(l.volume), l.lowConfidence ? "⚠ low" : "ok",
                          hourText(l.firstHour), hourText(l.lastHour)]) {
        const td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
      }
      const a = document.createElement("a");
      a.href = "/dashboard/market?realm=" + state.realm + "&league=" + encodeURIComponent(l.league);
      a.textContent = l.league; tr.firstChild.textContent = ""; tr.firstChild.appendChild(a);
      tbody.appendChild(tr);
    }
    const mbody = $("markets").querySelector("tbody");
    mbody.textContent = "";
    for (const m of data.markets) {
      const tr = document.createElement("tr");
      for (const text of [m.league, m.quoteCurrency, String(m.hours), fmt(m.volume), fmt(m.quoteVolume), hourText(m.lastHour)]) {
        const td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
      }
      mbody.appendChild(tr);
    }
  }

  function leagueChips() {
    const box = $("leagues-chips");
    box.textContent = "";
    for (const l of state.leagues) {
      const b = document.createElement("button");
      b.type = "button"; b.className = "chip" + (state.shown.has(l.league) ? " on" : ""); b.textContent = l.league;
      b.onclick = () => { if (state.shown.has(l.league)) state.shown.delete(l.league); else state.shown.add(l.league); leagueChips(); drawChart(); };
      box.appendChild(b);
    }
  }

  async function init() {
    $("api-key").value = sessionStorage.getItem(KEY_STORAGE) || "";
    $("api-key").addEventListener("change", () => {
      const key = $("api-key").value.trim();
      if (key) sessionStorage.setItem(KEY_STORAGE, key); else sessionStorage.removeItem(KEY_STORAGE);
      init();
    });
    $("market-link").href = "/dashboard/market?realm=" + state.realm + (state.league ? "&league=" + encodeURIComponent(state.league) : "");
    $("currency").value = state.currency;
    $("currency").onchange = () => { state.currency = $("currency").value; drawChart(); };
    $("status").textContent = "loading…";
    const body = await gql(ITEM, { id: itemId, realm: state.realm });
    showErrors(body.errors);
    if (!body.data || !body.data.marketItem) { document.body.dataset.state = "error"; $("status").textContent = ""; return; }
    const data = body.data.marketItem;
    state.item = data.item;
    state.leagues = data.leagues;
    state.watched = (body.data.items || []).some((i) => i.id === data.item.id);
    document.title = "TradeWatch · " + data.item.name;
    $("item-title").textContent = data.item.name;
    $("item-name").textContent = data.item.name;
    $("item-category").textContent = data.item.category || "—";
    $("item-id").textContent = data.item.id;
    $("item-path").textContent = data.item.metadataPath;
    $("gold-fee-box").hidden = data.item.goldFee === null || data.item.goldFee === undefined;
    $("gold-fee").textContent = fmt(data.item.goldFee);
    $("watched-box").hidden = !state.watched;
    const first = state.league && data.leagues.some((l) => l.league === state.league) ? state.league
      : (data.leagues[0] && data.leagues[0].league);
    state.shown = new Set(first ? [first] : []);
    fillTables(data);
    leagueChips();
    segmented("ranges", "range", "range");
    segmented("buckets", "bucket", "bucket");
    segmented("aligns", "align", "align");
    await drawChart();
  }
  init();
})();
