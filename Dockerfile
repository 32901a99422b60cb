# One image with every binary of the workspace: payment-service, delivery-worker, delivery-api,
# delivery-check and loadgen, in /usr/local/bin. There is no ENTRYPOINT: whoever runs the image names
# the binary (`command:` in infra/docker-compose.yml, `command:` in infra/k8s), so it is always
# visible which process a container is. The one-off schema migrations run from the same image,
# as subcommands of the binaries that own each database: `delivery-api migrate` (the delivery list)
# and `payment-service migrate` (the ledger), as the Kubernetes Jobs and compose one-shot
# services do.
#
#   docker build -t delivery-agency:0.1.0 .
#   docker run --rm delivery-agency:0.1.0 delivery-check
#
# Layers: the dependencies are compiled from a cargo-chef recipe (the manifests and Cargo.lock
# only), so a change to the project's own sources rebuilds only the workspace crates. Nothing
# is downloaded at build time but crates (crates.io) and the two base images' packages.

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# --- cargo-chef, pinned ------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS chef
RUN cargo install cargo-chef --version 0.1.78 --locked
WORKDIR /src
# Release binaries keep their symbols (function names in backtraces) but not the line tables the
# workspace profile asks for: that makes each binary ~4x smaller. Set here, so the dependency
# layer (cook) and the final build use the very same profile and the cache applies.
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    CARGO_TERM_COLOR=never

# --- the recipe: a skeleton of the workspace (manifests, Cargo.lock) -----------------------------
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# --- dependencies (cached while Cargo.toml / Cargo.lock do not change), then the workspace -------
FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --bins --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bins \
 && mkdir -p /out \
 && cp target/release/payment-service \
       target/release/delivery-worker \
       target/release/delivery-api \
       target/release/delivery-check \
       target/release/loadgen \
       /out/

# --- runtime: Debian slim (a shell for `exec` probes, CA certificates for TLS to Temporal) ------
FROM ${RUNTIME_IMAGE} AS runtime
# hadolint DL3008 (pin apt package versions) is ignored on purpose: the base image tag fixes the
# Debian release, and within it we want the current ca-certificates. Debian drops superseded
# versions from its archive, so a pin breaks the build at the next update (bookworm's went from
# 20230311+deb12u1 to 20250419~deb12u2).
# /var/lib/delivery/{pki,keys,codec-keys}: the mount points of docker-compose's payment-pki,
# api-keys and codec-keys volumes, owned by the app user so that what fills them
# (`payment-service pki init`, the API's signing key, the payload encryption key) may write into
# a fresh volume (Docker copies the mount point's owner and mode into an empty named volume).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/delivery --create-home \
      --shell /usr/sbin/nologin app \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/delivery/pki /var/lib/delivery/keys \
      /var/lib/delivery/codec-keys
COPY --from=builder /out/ /usr/local/bin/
# The working directory is writable by the app user, so the SQLite defaults (.data/…) work in a
# plain `docker run`; deployments point the *_DATABASE_URL variables at PostgreSQL instead.
WORKDIR /var/lib/delivery
USER 10001:10001
# delivery-api (API_ADDR) and payment-service (PAYMENT_ADDR); set the addresses to 0.0.0.0:… in
# a container, the binaries default to loopback.
EXPOSE 8080 50051
