-- Creates the project's two databases on the compose PostgreSQL (infra/docker-compose.yml
-- mounts this file into /docker-entrypoint-initdb.d, so it runs once, on an empty data
-- directory). Each database has its own owner: the payment ledger is only reachable with the
-- payment service's credentials, the delivery list and dispatch store with the API's and the
-- workers'. The binaries create their tables themselves (migrations at start).
--
-- The passwords are for the local compose stack only; in production the URLs come from a
-- secret (infra/k8s/manifests/secrets.yaml) and the databases from your PostgreSQL service.

CREATE ROLE payment LOGIN PASSWORD 'payment-dev-only';
CREATE DATABASE payment OWNER payment;
REVOKE ALL ON DATABASE payment FROM PUBLIC;

CREATE ROLE delivery LOGIN PASSWORD 'delivery-dev-only';
CREATE DATABASE deliveries OWNER delivery;
REVOKE ALL ON DATABASE deliveries FROM PUBLIC;
