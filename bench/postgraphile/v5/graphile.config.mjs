// PostGraphile 5 as bench/graphql.py runs it: the amber preset and the connection-filter plugin
// (the CLI adds the database, the schema `warehouse`, the host and the port). Copied into
// build/pg5 beside its node_modules, where the imports below resolve.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";

export default {
  extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset],
  grafserv: { graphiql: false, watch: false },
  grafast: { explain: false },
};
