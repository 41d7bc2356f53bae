// Starts GraphiQL on this server's /graphql (the page is served by graphql_api/graphiql.py).
// Adapted from Strawberry's GraphiQL page, without subscriptions (the API has none) and with
// the query, variables and headers kept in the URL so a query can be shared as a link.
(function () {
  "use strict";
  const EXAMPLE_QUERY = `# TradeWatch GraphiQL: write a query and press Ctrl-Enter.
# The Docs and Explorer buttons on the left list everything the API serves.
{
  latestPrices { item { id name } minPrice listingCount }
}
`;
  const parameters = {};
  for (const entry of window.location.search.slice(1).split("&")) {
    const eq = entry.indexOf("=");
    if (eq >= 0) {
      parameters[decodeURIComponent(entry.slice(0, eq))] = decodeURIComponent(entry.slice(eq + 1));
    }
  }

  function updateURL(data) {
    Object.assign(parameters, data);
    const search = Object.keys(parameters)
      .filter((key) => Boolean(parameters[key]))
      .map((key) => encodeURIComponent(key) + "=" + encodeURIComponent(parameters[key]))
      .join("&");
    history.replaceState(null, null, "?" + search);
  }

  const fetcher = GraphiQL.createFetcher({ url: window.location.href.split("?")[0] });

  function TradeWatchGraphiQL() {
    const [query, setQuery] = React.useState(parameters.q || EXAMPLE_QUERY);
    const [variables, setVariables] = React.useState(parameters.variables);
    const [headers, setHeaders] = React.useState(parameters.headers);
    const explorerPlugin = GraphiQLPluginExplorer.explorerPlugin();
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [explorerPlugin],
      query: query,
      variables: variables,
      headers: headers,
      onEditQuery: (value) => { setQuery(value); updateURL({ q: value }); },
      onEditVariables: (value) => { setVariables(value); updateURL({ variables: value }); },
      onEditHeaders: setHeaders,
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(TradeWatchGraphiQL));
})();
