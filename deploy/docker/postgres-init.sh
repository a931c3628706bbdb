#!/bin/sh
# First start of the postgres container (docker-entrypoint-initdb.d): the crmflow role and database,
# as deploy/local/stack.sh makes them. The role is not a superuser: LOGIN for the services,
# REPLICATION for Debezium; it owns its database, so its migrations create the outbox publication.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v user="$CRMFLOW_PG_USER" -v pass="$CRMFLOW_PG_PASSWORD" -v db="$CRMFLOW_PG_DB" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN REPLICATION PASSWORD %L', :'user', :'pass')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
