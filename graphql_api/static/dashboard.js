/* TradeWatch dashboard: plain JavaScript, no build step.
 *
 * Everything on the page comes from this server's public GraphQL API (POST /graphql):
 * `items`, `strategies` and `coverage` (for the watchlist's league) once, then per view
 * `priceSeries`, `latestPrices` and `profitability` (page by page, bounded) side by side.
 * Charts are drawn with the plotly.js that the installed plotly package ships.
 * The view (league, items, range, bucket, strategy) lives in the URL fragment, so a
 * view can be bookmarked or shared.
 */
(function () {
  "use strict";

  const KEY_STORAGE = "tradewatch.apiKey";
  const PRESET_HOURS = { "24h": 24, "7d": 7 * 24, "30d": 30 * 24 };
  const HOUR_MS = 3600 * 1000;
  const DEFAULT_ITEMS = 3;
  const PROFIT_PAGE = 250;          // a week of one strategy (both policies) is two pages
  const MAX_PROFIT_PAGES = 40;      // bounded: 10,000 rows ≈ 200 days of one strategy, both policies
  // One colour per watched item, by its place in the watchlist (stable across reloads). 26
  // colours: Tableau's first eight, then each next one the farthest (CIELAB) from those before
  // it, none too light for a white page; no two closer than ΔE 32 (up to 26 items share none).
  const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#9c755f",
                   "#0000ff", "#ff22dd", "#442299", "#00dd00", "#ff0000", "#114433", "#cc88ff", "#bb1177",
                   "#0088ff", "#99cc22", "#aa44ff", "#555500", "#772233", "#884400", "#00ddaa", "#662266",
                   "#00ccff", "#bbbb77"];
  const POLICY_STYLE = {
    TOP_K: { color: "#4e79a7", dash: "solid" },
    OPTIMAL: { color: "#a86b1d", dash: "solid" },
  };
  const FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif", size: 12, color: "#1d2330" };
  const PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  const INIT_QUERY = `query DashboardInit {
    items { id name category watched }
    strategies { name topK buyQuantity unitsPerReroll rerollCostAmount rerollCostItem { name } family { id } }
  }`;
  // a one-hour coverage answer is the cheapest way to learn the watchlist's league
  const LEAGUE_QUERY = `query DashboardLeague($from: DateTime, $to: DateTime) {
    coverage(from: $from, to: $to) { league }
  }`;
  // Separate requests: a failing root field (say, a bad range) nulls the whole answer of its
  // request, and the latest prices do not depend on the range.
  const SERIES_QUERY = `query DashboardSeries($league: String, $items: [ID!], $from: DateTime, $to: DateTime,
                                            $bucket: Bucket!, $currency: Currency) {
    priceSeries(league: $league, items: $items, from: $from, to: $to, bucket: $bucket, currency: $currency) {
      item { id name } points time close robustClose low avgPrice executedPrice executedVolume
    }
  }`;
  const LATEST_QUERY = `query DashboardLatest($league: String, $currency: Currency) {
    latestPrices(league: $league, currency: $currency) {
      item { id name } hour minPrice robustMinPrice avgPrice targetQuantity listingCount totalStock
      change24h change7d lowConfidence paidWith simulated
    }
  }`;
  // the alert rules' crossings in the range, marked on the charts
  const ALERTS_QUERY = `query DashboardAlerts($league: String, $from: DateTime, $to: DateTime) {
    alerts(league: $league, from: $from, to: $to) {
      rule hour kind item { id } strategy policy source comparison threshold value currency
    }
  }`;
  // the stored leagues, for the league picker's list
  const LEAGUES_QUERY = `query DashboardLeagues { leagues { name source } }`;
  const PROFIT_QUERY = `query DashboardProfit($league: String, $strategy: String, $from: DateTime, $to: DateTime,
                                             $first: Int, $after: String) {
    profitability(league: $league, strategy: $strategy, from: $from, to: $to, first: $first, after: $after) {
      nodes { hour policy expectedProfitPerUnit roi }
      pageInfo { hasNextPage endCursor }
    }
  }`;

  const $ = (id) => document.getElementById(id);
  const view = { league: "", currency: "", items: [], preset: "7d", from: "", to: "", bucket: "HOUR", strategy: "", log: false };
  let catalog = [];       // watched items, in watchlist order: [{id, name, category}]
  let strategies = [];
  let defaultLeague = null;
  let loadSeq = 0;        // only the newest load may draw
  let debounceTimer = null;

  // ---------------------------------------------------------------- the API

  const gql = (query, variables) => window.tradewatchGraphQL(query, variables);  // persisted_queries.js

  // ---------------------------------------------------------------- time helpers

  // datetime-local values are read and written as UTC: "2026-01-31T13:00"
  const toInput = (date) => date.toISOString().slice(0, 16);
  // plotly has no time zones; "YYYY-MM-DD HH:MM:SS" strings are drawn as given, i.e. in UTC
  const plotTime = (iso) => new Date(iso).toISOString().slice(0, 19).replace("T", " ");
  const inputToApi = (value) => (value ? (value.length === 16 ? value + ":00Z" : value + "Z") : null);

  function currentRange() {
    if (view.preset && PRESET_HOURS[view.preset]) {
      // end of the current hour, the API's own default `to`
      const end = new Date((Math.floor(Date.now() / HOUR_MS) + 1) * HOUR_MS);
      const start = new Date(end.getTime() - PRESET_HOURS[view.preset] * HOUR_MS);
      $("from").value = toInput(start);
      $("to").value = toInput(end);
      return { from: start.toISOString(), to: end.toISOString() };
    }
    view.from = $("from").value;
    view.to = $("to").value;
    return { from: inputToApi(view.from), to: inputToApi(view.to) };
  }

  // ---------------------------------------------------------------- formatting

  function fmtPrice(value) {
    if (value === null || value === undefined) return "—";
    const abs = Math.abs(value);
    if (abs >= 100) return value.toFixed(0);
    if (abs >= 1) return value.toFixed(2);
    return value.toPrecision(3);
  }
  const fmtInt = (value) => (value === null || value === undefined ? "—" : value.toLocaleString("en-US"));
  function fmtChange(value) {
    if (value === null || value === undefined) return "—";
    return (value > 0 ? "+" : "") + (value * 100).toFixed(1) + " %";
  }
  const fmtHour = (iso) => plotTime(iso).slice(0, 16);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "className") node.className = value;
      else node.setAttribute(name, value);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  const colorOf = (itemId) => {
    const index = catalog.findIndex((item) => item.id === itemId);
    return PALETTE[(index < 0 ? 0 : index) % PALETTE.length];
  };

  // ---------------------------------------------------------------- view state <-> URL

  function readFragment() {
    const params = new URLSearchParams(location.hash.slice(1));
    view.league = params.get("league") || "";
    view.currency = ["CHAOS", "DIVINE"].includes(params.get("currency")) ? params.get("currency") : "";
    view.items = (params.get("items") || "").split(",").filter(Boolean);
    view.bucket = params.get("bucket") === "DAY" ? "DAY" : "HOUR";
    view.strategy = params.get("strategy") || "";
    view.log = params.get("log") === "1";
    const range = params.get("range");
    if (range && PRESET_HOURS[range]) view.preset = range;
    else if (params.get("from") || params.get("to")) {
      view.preset = null;
      view.from = params.get("from") || "";
      view.to = params.get("to") || "";
    }
  }

  function writeFragment() {
    const params = new URLSearchParams();
    if (view.league) params.set("league", view.league);
    if (view.currency) params.set("currency", view.currency);
    if (view.items.length) params.set("items", view.items.join(","));
    if (view.preset) params.set("range", view.preset);
    else {
      if (view.from) params.set("from", view.from);
      if (view.to) params.set("to", view.to);
    }
    params.set("bucket", view.bucket);
    if (view.strategy) params.set("strategy", view.strategy);
    if (view.log) params.set("log", "1");
    history.replaceState(null, "", "#" + params.toString());
  }

  // ---------------------------------------------------------------- controls

  function renderControls() {
    for (const button of $("presets").querySelectorAll("button")) {
      button.classList.toggle("active", button.dataset.preset === view.preset);
    }
    for (const button of $("buckets").querySelectorAll("button")) {
      button.classList.toggle("active", button.dataset.bucket === view.bucket);
    }
    $("log-scale").checked = view.log;
    $("league").value = view.league;
    $("currency").value = view.currency;
    if (!view.preset) {
      $("from").value = view.from;
      $("to").value = view.to;
    }
    for (const chip of $("items").querySelectorAll(".chip")) {
      const on = view.items.includes(chip.dataset.item);
      chip.classList.toggle("on", on);
      chip.querySelector("input").checked = on;
    }
    for (const row of $("latest").querySelectorAll("tbody tr[data-item]")) {
      row.classList.toggle("charted", view.items.includes(row.dataset.item));
    }
  }

  function renderItemChips() {
    const box = $("items");
    box.textContent = "";
    for (const item of catalog) {
      const box_ = el("input", { type: "checkbox", value: item.id });
      box_.addEventListener("change", () => setItem(item.id, box_.checked));
      const swatch = el("span", { className: "swatch", "aria-hidden": "true" });
      swatch.style.background = colorOf(item.id);
      const chip = el("label", { className: "chip", title: item.id }, box_, swatch, item.name);
      chip.dataset.item = item.id;
      chip.dataset.color = colorOf(item.id);
      box.append(chip);
    }
    if (!catalog.length) box.append(el("span", { className: "hint" }, "no items"));
  }

  function renderStrategies() {
    const select = $("strategy");
    select.textContent = "";
    for (const s of strategies) select.append(el("option", { value: s.name }, s.name));
    if (!strategies.length) select.append(el("option", { value: "" }, "no strategies configured"));
    select.value = view.strategy;
  }

  function setItem(itemId, on) {
    const chosen = new Set(view.items);
    if (on) chosen.add(itemId);
    else chosen.delete(itemId);
    // keep the watchlist's order, so colours and legend stay put
    view.items = catalog.map((item) => item.id).filter((id) => chosen.has(id));
    renderControls();
    scheduleLoad();
  }

  function scheduleLoad(delay = 300) {
    clearTimeout(debounceTimer);
    debounceTimer = setTimeout(() => load().catch(fail), delay);
  }

  function bindControls() {
    $("presets").addEventListener("click", (event) => {
      const preset = event.target.dataset && event.target.dataset.preset;
      if (!preset) return;
      view.preset = preset;
      renderControls();
      scheduleLoad(0);
    });
    $("buckets").addEventListener("click", (event) => {
      const bucket = event.target.dataset && event.target.dataset.bucket;
      if (!bucket) return;
      view.bucket = bucket;
      renderControls();
      scheduleLoad(0);
    });
    for (const id of ["from", "to"]) {
      $(id).addEventListener("change", () => {
        // a typed range replaces the preset; the other input keeps what the preset filled in
        view.preset = null;
        view.from = $("from").value;
        view.to = $("to").value;
        renderControls();
        scheduleLoad();
      });
    }
    $("league").addEventListener("change", () => {
      view.league = $("league").value.trim();
      scheduleLoad(0);
    });
    $("currency").addEventListener("change", () => {
      view.currency = $("currency").value;
      scheduleLoad(0);
    });
    $("strategy").addEventListener("change", () => {
      view.strategy = $("strategy").value;
      scheduleLoad(0);
    });
    $("log-scale").addEventListener("change", () => {
      view.log = $("log-scale").checked;
      writeFragment();
      const chart = $("price-chart");
      if (chart.data) Plotly.relayout(chart, { "yaxis.type": view.log ? "log" : "linear" });
    });
    $("refresh").addEventListener("click", () => scheduleLoad(0));
    $("items-all").addEventListener("click", () => {
      view.items = catalog.map((item) => item.id);
      renderControls();
      scheduleLoad(0);
    });
    $("items-none").addEventListener("click", () => {
      view.items = [];
      renderControls();
      scheduleLoad(0);
    });
    $("api-key").addEventListener("change", () => {
      const key = $("api-key").value.trim();
      if (key) sessionStorage.setItem(KEY_STORAGE, key);
      else sessionStorage.removeItem(KEY_STORAGE);
      // the item list and strategies may not have loaded without the key: start over
      location.reload();
    });
  }

  // ---------------------------------------------------------------- status and errors

  function setStatus(state, text) {
    document.body.dataset.state = state;
    $("status").textContent = text;
  }

  function showErrors(errors) {
    const box = $("errors");
    box.textContent = "";
    const seen = new Set();
    for (const error of errors) {
      const code = (error.extensions && error.extensions.code) || "ERROR";
      const key = code + "|" + error.message;
      if (seen.has(key)) continue;  // the same bad range fails every request; say it once
      seen.add(key);
      box.append(el("p", {}, el("code", {}, code), " ", error.message));
    }
    box.hidden = seen.size === 0;
  }

  // ---------------------------------------------------------------- charts

  function baseLayout(range, yTitle) {
    const layout = {
      margin: { l: 60, r: 16, t: 8, b: 36 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: FONT,
      hovermode: "x unified",
      xaxis: { type: "date", gridcolor: "#eef0f3", linecolor: "#d0d4db" },
      yaxis: { gridcolor: "#eef0f3", zerolinecolor: "#d0d4db", title: { text: yTitle }, automargin: true },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
      annotations: [],
      shapes: [],
    };
    if (range.from && range.to && !isNaN(Date.parse(range.from)) && !isNaN(Date.parse(range.to))) {
      layout.xaxis.range = [plotTime(range.from), plotTime(range.to)];
    }
    return layout;
  }

  function noData(layout, text) {
    layout.annotations.push({ text, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5,
                              font: { size: 15, color: "#6b7280" } });
    return layout;
  }

  function markChart(chart, range) {
    // what was asked for, so anyone (a test, a curious user) can ask the API the same question
    chart.dataset.from = range.from || "";
    chart.dataset.to = range.to || "";
    chart.dataset.bucket = view.bucket;
    chart.dataset.league = view.league;
  }

  // the bait-filtered minimum: dashed, beside the plain minimum (solid)
  function robustTrace(s, x, mode, color, unit) {
    return {
      type: "scatter", mode, name: s.item.name + " (robust min)", legendgroup: s.item.id, showlegend: false, x,
      y: s.robustClose, line: { color, width: 2, dash: "dash" }, marker: { size: 4 },
      meta: { item: s.item.id, measure: "robustClose" },
      hovertemplate: `%{y:.4g} ${unit} robust min<extra>${s.item.name}</extra>`,
    };
  }

  // ---------------------------------------------------------------- alert crossings

  // The value a drawn line has at `iso`: its last non-null point at or before it (the bucket
  // holding that hour), or null. Markers sit on the line, whatever unit the rule compared in.
  function lineValueAt(times, values, iso) {
    const at = Date.parse(iso);
    let found = null;
    for (let i = 0; i < times.length && Date.parse(times[i]) <= at; i++) {
      if (values[i] !== null && values[i] !== undefined) found = values[i];
    }
    return found;
  }

  function describeAlert(a) {
    const what = a.kind === "price" ? (a.source === "exchange" ? "executed vwap" : "robust min")
                                    : `${a.strategy} (${a.policy}) profit per unit`;
    return `alert ${a.rule}: ${what} ${fmtPrice(a.value)} ${a.currency}, ${a.comparison} ${fmtPrice(a.threshold)}` +
           ` ${a.currency} · ${fmtHour(a.hour)} UTC`;
  }

  // one marker trace of crossings; `y` places each on its line
  function alertTrace(alerts, y, color, meta) {
    return {
      type: "scatter", mode: "markers", name: "alerts", showlegend: false, x: alerts.map((a) => plotTime(a.hour)),
      y, text: alerts.map(describeAlert), meta: { alert: true, ...meta },
      marker: { size: 13, color, symbol: alerts.map((a) => (a.comparison === "below" ? "triangle-down" : "triangle-up")),
                line: { color: "#1d2330", width: 1 } },
      hovertemplate: "%{text}<extra></extra>",
    };
  }

  // price rules' crossings on the robust line of their item (only items on the chart)
  function priceAlertTraces(alerts, series) {
    const traces = [];
    for (const s of series || []) {
      const mine = (alerts || []).filter((a) => a.kind === "price" && a.item && a.item.id === s.item.id);
      if (!mine.length) continue;
      const y = mine.map((a) => {
        const onLine = lineValueAt(s.time, s.robustClose, a.hour);
        return onLine === null ? a.value : onLine;
      });
      traces.push(alertTrace(mine, y, colorOf(s.item.id), { item: s.item.id }));
    }
    return traces;
  }

  // the shown strategy's crossings on the line of their policy
  function profitAlertTraces(alerts, rowsByPolicy) {
    const traces = [];
    for (const [policy, rows] of Object.entries(rowsByPolicy)) {
      const mine = (alerts || []).filter((a) => a.kind === "profit" && a.strategy === view.strategy &&
                                                (a.policy || "").toUpperCase() === policy);
      if (!mine.length) continue;
      const times = rows.map((row) => row.hour);
      const values = rows.map((row) => row.expectedProfitPerUnit);
      const y = mine.map((a) => {
        const onLine = lineValueAt(times, values, a.hour);
        return onLine === null ? a.value : onLine;
      });
      traces.push(alertTrace(mine, y, POLICY_STYLE[policy].color, { policy }));
    }
    return traces;
  }

  async function loadAlerts(league, range) {
    const body = await gql(ALERTS_QUERY, { league, from: range.from, to: range.to });
    return { alerts: (body.data && body.data.alerts) || [], errors: body.errors || [] };
  }

  async function drawPrices(series, range, unit, failed, alerts) {
    const chart = $("price-chart");
    const traces = [];
    for (const s of series || []) {
      const color = colorOf(s.item.id);
      const x = s.time.map(plotTime);
      const mode = s.points <= 60 ? "lines+markers" : "lines";
      traces.push({
        type: "scatter", mode, name: s.item.name, legendgroup: s.item.id, x, y: s.close,
        line: { color, width: 2 }, marker: { size: 5 }, meta: { item: s.item.id, measure: "close" },
        hovertemplate: `%{y:.4g} ${unit} min<extra>${s.item.name}</extra>`,
      });
      traces.push({
        type: "scatter", mode, name: s.item.name + " (depth avg)", legendgroup: s.item.id, showlegend: false, x,
        y: s.avgPrice, line: { color, width: 1.5, dash: "dot" }, marker: { size: 3 },
        meta: { item: s.item.id, measure: "avgPrice" },
        hovertemplate: `%{y:.4g} ${unit} avg<extra>${s.item.name}</extra>`,
      });
      traces.push(robustTrace(s, x, mode, color, unit));
      traces.push(...executedTraces(s, x, color, mode, unit));
    }
    traces.push(...priceAlertTraces(alerts, series));
    const layout = baseLayout(range, unit ? "price (" + unit + ")" : "price");
    layout.yaxis.type = view.log ? "log" : "linear";
    addVolumeAxis(layout, traces);
    const points = (series || []).reduce((n, s) => n + s.points, 0);
    if (!view.items.length) noData(layout, "pick items above");
    else if (failed) noData(layout, "no data: see the error above");
    else if (!points) noData(layout, "no data");
    markChart(chart, range);
    chart.dataset.points = String(points);
    await Plotly.react(chart, traces, layout, PLOT_CONFIG);
  }

  // What buyers paid on the Currency Exchange beside what the book asks: the executed price as a
  // dashed line of the item's colour, the units traded as thin bars on a small axis below the
  // prices. Only for items with any trade in the range (no empty legend entries otherwise).
  function hasValues(column) {
    return Array.isArray(column) && column.some((v) => v !== null);
  }

  function executedTraces(s, x, color, mode, unit) {
    const traces = [];
    if (hasValues(s.executedPrice)) {
      traces.push({
        type: "scatter", mode, name: s.item.name + " (executed)", legendgroup: s.item.id, showlegend: false, x,
        y: s.executedPrice, connectgaps: false, line: { color, width: 1.5, dash: "dashdot" }, marker: { size: 3 },
        meta: { item: s.item.id, measure: "executedPrice" },
        hovertemplate: `%{y:.4g} ${unit} executed<extra>${s.item.name}</extra>`,
      });
    }
    if (hasValues(s.executedVolume)) {
      traces.push({
        type: "bar", name: s.item.name + " (volume)", legendgroup: s.item.id, showlegend: false, x,
        y: s.executedVolume, yaxis: "y2", marker: { color, opacity: 0.5 },
        meta: { item: s.item.id, measure: "executedVolume" },
        hovertemplate: `%{y:.4g} traded<extra>${s.item.name}</extra>`,
      });
    }
    return traces;
  }

  function addVolumeAxis(layout, traces) {
    if (!traces.some((t) => t.yaxis === "y2")) return;
    layout.yaxis.domain = [0.26, 1];
    layout.yaxis2 = { domain: [0, 0.18], anchor: "x", gridcolor: "#eef0f3", rangemode: "tozero",
                      title: { text: "traded" }, automargin: true };
    layout.barmode = "group";
    layout.bargap = 0.6;
  }

  function dailyMeans(rows) {
    // the chart follows the bucket: one point per UTC day, the mean of its hours
    const days = new Map();
    for (const row of rows) {
      const day = new Date(row.hour).toISOString().slice(0, 10);
      const acc = days.get(day) || { profit: 0, roi: 0, roiCount: 0, count: 0 };
      acc.profit += row.expectedProfitPerUnit;
      acc.count += 1;
      if (row.roi !== null && row.roi !== undefined) {
        acc.roi += row.roi;
        acc.roiCount += 1;
      }
      days.set(day, acc);
    }
    return [...days.entries()].map(([day, acc]) => ({
      hour: day + "T00:00:00Z", expectedProfitPerUnit: acc.profit / acc.count,
      roi: acc.roiCount ? acc.roi / acc.roiCount : null,
    }));
  }

  async function drawProfit(result, range, unit, alerts) {
    const chart = $("profit-chart");
    const strategy = strategies.find((s) => s.name === view.strategy);
    const names = { TOP_K: strategy ? `Top-${strategy.topK} rule (TOP_K)` : "Top-K rule (TOP_K)",
                    OPTIMAL: "Optimal stopping (OPTIMAL)" };
    const traces = [];
    const drawn = {};
    for (const policy of ["TOP_K", "OPTIMAL"]) {
      let rows = result.rows.filter((row) => row.policy === policy);
      if (view.bucket === "DAY") rows = dailyMeans(rows);
      drawn[policy] = rows;
      const style = POLICY_STYLE[policy];
      traces.push({
        type: "scatter", mode: rows.length <= 60 ? "lines+markers" : "lines", name: names[policy],
        x: rows.map((row) => plotTime(row.hour)), y: rows.map((row) => row.expectedProfitPerUnit),
        customdata: rows.map((row) => (row.roi === null || row.roi === undefined ? "—"
                                                                   : (row.roi * 100).toFixed(1) + " %")), line: { color: style.color, width: 2, dash: style.dash },
        marker: { size: 5 }, meta: { policy },
        hovertemplate: `%{y:.4g} ${unit}/unit · ROI %{customdata}<extra>${names[policy]}</extra>`,
      });
    }
    traces.push(...profitAlertTraces(alerts, drawn));
    const layout = baseLayout(range, unit ? "expected profit per unit (" + unit + ")" : "expected profit per unit");
    // below the line the strategy loses money
    layout.shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: 0, y1: 0,
                         line: { color: "#c0392b", width: 1, dash: "dash" } });
    if (!strategies.length) noData(layout, "no strategies configured");
    else if (result.failed) noData(layout, "no data: see the error above");
    else if (!result.rows.length) noData(layout, "no data");
    markChart(chart, range);
    chart.dataset.points = String(result.rows.length);
    await Plotly.react(chart, traces, layout, PLOT_CONFIG);

    const notes = [view.bucket === "DAY" ? "Daily means of the hourly expected profit per unit bought."
                                         : "Expected profit per unit bought, hour by hour."];
    notes.push("The gap between the lines is what selling by optimal stopping earns over the rule of thumb.");
    if (traces.some((t) => t.meta.alert)) notes.push("Triangles: crossings of the strategy's alert rules (hover one).");
    if (result.truncated) {
      notes.push(`Only the first ${result.rows.length.toLocaleString("en-US")} rows are shown; narrow the range to see the rest.`);
    }
    $("profit-note").textContent = notes.join(" ");
  }

  function describeStrategy() {
    const s = strategies.find((x) => x.name === view.strategy);
    $("strategy-info").textContent = s
      ? `Buy ${s.buyQuantity.toLocaleString("en-US")} of the cheapest of ${s.family.length} items; one reroll of ` +
        `${s.unitsPerReroll} unit${s.unitsPerReroll === 1 ? "" : "s"} costs ${s.rerollCostAmount} ` +
        `${s.rerollCostItem.name}; the rule sells once you hold one of the ${s.topK} most valuable.`
      : "";
  }

  async function loadProfitability(league, range, seq) {
    if (!view.strategy) return { rows: [], errors: [], truncated: false, failed: false };
    let rows = [];
    let after = null;
    for (let page = 0; page < MAX_PROFIT_PAGES; page++) {
      const body = await gql(PROFIT_QUERY, { league, strategy: view.strategy, from: range.from, to: range.to,
                                             first: PROFIT_PAGE, after });
      if (body.errors && body.errors.length) return { rows, errors: body.errors, truncated: false, failed: true };
      const connection = body.data.profitability;
      rows = rows.concat(connection.nodes);
      if (!connection.pageInfo.hasNextPage) return { rows, errors: [], truncated: false, failed: false };
      if (seq !== loadSeq) break;  // superseded: stop paging, nobody will see it
      after = connection.pageInfo.endCursor;
    }
    return { rows, errors: [], truncated: true, failed: false };
  }

  // ---------------------------------------------------------------- latest prices

  function renderLatest(rows, failed) {
    const body = $("latest").querySelector("tbody");
    body.textContent = "";
    const league = view.league || defaultLeague || "the watchlist's league";
    $("latest-info").textContent = "";
    if (failed || !rows) {
      body.append(el("tr", {}, el("td", { className: "empty", colspan: "9" }, "no data: see the error above")));
      return;
    }
    if (!rows.length) {
      body.append(el("tr", {}, el("td", { className: "empty", colspan: "9" }, `No data for league ${league}.`)));
      return;
    }
    const first = rows[0];
    $("latest-info").textContent = `in ${first.paidWith} · ${league}`;
    $("avg-head").textContent = `Avg of ${first.targetQuantity}`;
    $("target-qty").textContent = `${first.targetQuantity} units`;
    const byItem = new Map(rows.map((row) => [row.item.id, row]));
    // one row per watched item in watchlist order; an item without a snapshot says so
    const order = catalog.length ? catalog.map((item) => item.id) : rows.map((row) => row.item.id);
    for (const row of rows) if (!order.includes(row.item.id)) order.push(row.item.id);
    for (const itemId of order) {
      const row = byItem.get(itemId);
      const item = catalog.find((x) => x.id === itemId) || (row && row.item);
      const toggle = el("button", { type: "button", className: "item-toggle", title: "show on the price chart" },
                        item.name);
      toggle.addEventListener("click", () => setItem(itemId, !view.items.includes(itemId)));
      const nameCell = el("td", {}, toggle);
      if (!row) {
        const tr = el("tr", {}, nameCell, el("td", { className: "empty", colspan: "8" }, "no snapshot yet"));
        tr.dataset.item = itemId;
        body.append(tr);
        continue;
      }
      if (row.lowConfidence) {
        nameCell.append(el("span", { className: "badge warn", title: "few listings or no robust price: easy to move" },
                           "low confidence"));
      }
      if (row.simulated) nameCell.append(el("span", { className: "badge", title: "simulated history" }, "sim"));
      const change = (value) => el("td", { className: "num " + (value > 0 ? "up" : value < 0 ? "down" : "") },
                                   fmtChange(value));
      const tr = el("tr", {}, nameCell,
                    el("td", { className: "num" }, fmtPrice(row.minPrice)),
                    el("td", { className: "num" }, fmtPrice(row.robustMinPrice)),
                    el("td", { className: "num" }, fmtPrice(row.avgPrice)),
                    change(row.change24h), change(row.change7d),
                    el("td", { className: "num" }, fmtInt(row.listingCount)),
                    el("td", { className: "num" }, fmtInt(row.totalStock)),
                    el("td", {}, fmtHour(row.hour)));
      tr.dataset.item = itemId;
      body.append(tr);
    }
  }

  // ---------------------------------------------------------------- loading

  async function load() {
    clearTimeout(debounceTimer);
    const seq = ++loadSeq;
    setStatus("loading", "loading…");
    writeFragment();
    describeStrategy();
    const range = currentRange();
    const league = view.league || null;
    const currency = view.currency || null;
    const noSeries = { data: { priceSeries: [] } };  // nothing picked: nothing to ask
    const [series, latest, profit, crossings] = await Promise.all([
      view.items.length ? gql(SERIES_QUERY, { league, items: view.items, from: range.from, to: range.to,
                                              bucket: view.bucket, currency }) : noSeries,
      gql(LATEST_QUERY, { league, currency }),
      loadProfitability(league, range, seq),
      loadAlerts(league, range),
    ]);
    if (seq !== loadSeq) return;  // a newer load is under way; its answer will be drawn
    const latestRows = latest.data ? latest.data.latestPrices : null;
    const unit = latestRows && latestRows.length ? latestRows[0].paidWith : "";
    $("price-unit").textContent = unit ? "in " + unit : "";
    const errors = [...(series.errors || []), ...(latest.errors || []), ...profit.errors, ...crossings.errors];
    showErrors(errors);
    renderLatest(latestRows, Boolean(latest.errors && latest.errors.length));
    renderControls();
    await Promise.all([drawPrices(series.data ? series.data.priceSeries : null, range, unit,
                                  Boolean(series.errors && series.errors.length), crossings.alerts),
                       drawProfit(profit, range, unit, crossings.alerts)]);
    if (seq !== loadSeq) return;
    const time = new Date().toISOString().slice(11, 16);
    setStatus(errors.length ? "error" : "ready", errors.length ? "error" : "updated " + time + " UTC");
    document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
  }

  async function init() {
    readFragment();
    $("api-key").value = sessionStorage.getItem(KEY_STORAGE) || "";
    bindControls();
    setStatus("loading", "loading…");
    const hour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
    const [body, leagueBody, leaguesBody] = await Promise.all([
      gql(INIT_QUERY, {}),
      gql(LEAGUE_QUERY, { from: new Date(hour).toISOString(), to: new Date(hour + HOUR_MS).toISOString() }),
      gql(LEAGUES_QUERY, {}),
    ]);
    // the picker's list: every stored league once (either source)
    const names = [...new Set(((leaguesBody.data || {}).leagues || []).map((l) => l.name))];
    $("league-list").replaceChildren(...names.map((name) => el("option", { value: name })));
    const data = body.data || {};
    catalog = (data.items || []).filter((item) => item.watched);
    strategies = data.strategies || [];
    // only a nicer placeholder depends on it: its failure is not worth a message
    defaultLeague = leagueBody.data && leagueBody.data.coverage ? leagueBody.data.coverage.league : null;
    if (defaultLeague) $("league").placeholder = defaultLeague + " (default)";
    const known = new Set(catalog.map((item) => item.id));
    view.items = view.items.filter((id) => known.has(id));
    if (!view.items.length && !location.hash.includes("items=")) {
      view.items = catalog.slice(0, DEFAULT_ITEMS).map((item) => item.id);
    }
    if (!strategies.some((s) => s.name === view.strategy)) view.strategy = strategies.length ? strategies[0].name : "";
    renderItemChips();
    renderStrategies();
    renderControls();
    if (body.errors && body.errors.length) {
      // e.g. a missing API key: nothing else can load either
      showErrors(body.errors);
      setStatus("error", "error");
      return;
    }
    await load();
  }

  function fail(err) {
    // a bug here must still show up on the page, not only in the console
    showErrors([{ message: "The dashboard failed: " + err.message, extensions: { code: "CLIENT_ERROR" } }]);
    setStatus("error", "error");
  }

  window.addEventListener("DOMContentLoaded", () => init().catch(fail));
})();
