"""Tests of the deployment files (Dockerfile, docker-compose.yml, workspace.compose.yaml, deploy/).

Docker cannot run here, so the files are parsed and every part that names something of this
project is checked against the real thing: commands against the installed entry points and
their parsers, environment variables against what the settings read, dagster.yaml against a
real DagsterInstance on PostgreSQL, the workspace against a running Dagster code server.
"""
