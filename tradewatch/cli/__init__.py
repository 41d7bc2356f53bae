"""The `tradewatch` command and what only it uses: the local process supervisor
(`local_stack`), the Dagster webserver client (`dagster_remote`) and simulated history
(`simulated_history`, the one place of the core that may import the simulator).

Heavy parts are imported lazily, per verb, so `tradewatch --help` stays fast."""
