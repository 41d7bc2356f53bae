"""The HTTP API for dashboards (`graphql_api.app:app`)."""
