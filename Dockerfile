# streamgate's container image: a build stage that compiles the server with Debian's Rust,
# then a slim runtime with CA certificates and the binary alone, run as a non-root user.
#
#   docker build -t streamgate .                     (or: podman build --format docker ...)
#   docker run -p 50051:50051 -e STREAMGATE_POLICY=/etc/streamgate/policy.toml \
#       -v ./policy.toml:/etc/streamgate/policy.toml:ro streamgate
#
# Both bases are build arguments so the same file builds where no registry is reachable:
# scripts/image.sh passes a Debian base it made with mmdebstrap. Any Debian bookworm (or
# later) base works: the build stage installs rustc-web/cargo-web (Rust 1.85 or later) from
# the Debian mirrors.
ARG BUILD_BASE=docker.io/library/debian:bookworm-slim
ARG RUNTIME_BASE=docker.io/library/debian:bookworm-slim
# Where the runtime takes the binary from: `build` (the stage below, the default) or
# `prebuilt` (a binary built outside, put at target/prebuilt/streamgate in the context).
# scripts/test.sh takes `prebuilt` with the binary its tests already built, so a CI run on a
# fresh machine does not compile every dependency a second time, in release, in a container;
# everything after the binary (runtime, user, health check, entrypoint) is the same.
ARG BINARY_FROM=build

FROM ${BUILD_BASE} AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends rustc-web cargo-web gcc libc6-dev ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log
# /cargo-home and /target may be bind mounts (`podman build -v`, as scripts/image.sh does):
# then the crates come from a cargo home filled by `cargo fetch` outside (CARGO_NET_OFFLINE=true:
# the build stage needs no access to crates.io) and dependencies are compiled once across
# builds. Without them they are plain directories of this stage and everything is downloaded
# and built from scratch.
ARG CARGO_NET_OFFLINE=false
ENV CARGO_HOME=/cargo-home CARGO_TARGET_DIR=/target CARGO_NET_OFFLINE=${CARGO_NET_OFFLINE}
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin streamgate \
    && install -D -m 0755 /target/release/streamgate /out/streamgate

FROM scratch AS prebuilt
COPY target/prebuilt/streamgate /out/streamgate

FROM ${BINARY_FROM} AS binary

FROM ${RUNTIME_BASE}
ARG DEBIAN_FRONTEND=noninteractive
# apt-get clean and the lists removed: the base may not drop apt's caches by itself (the
# mmdebstrap base does not), and they are tens of MB.
# ca-certificates: Fetch and ListPages reach https:// upstreams (and rediss://) through the
# system's roots. No shell tool is needed by the health check: it is the binary itself.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin streamgate
COPY --from=binary /out/streamgate /usr/local/bin/streamgate
USER 10001:10001
# The server on every interface (protected mode: it refuses to start unless STREAMGATE_POLICY
# names a policy file or STREAMGATE_ALLOW_ANONYMOUS=true), metrics on 9090, JSON logs. The
# metrics port is asked for on every interface explicitly (STREAMGATE_METRICS_ALLOW_PUBLIC):
# in a container the scraper reaches it from outside, and which ports are published is the
# operator's choice (keep 9090 off public networks: the metrics name locks, hosts, callers).
ENV STREAMGATE_LISTEN=0.0.0.0:50051 \
    STREAMGATE_METRICS_LISTEN=0.0.0.0:9090 \
    STREAMGATE_METRICS_ALLOW_PUBLIC=true \
    STREAMGATE_LOG_FORMAT=json
EXPOSE 50051 9090
# SIGTERM drains: health NOT_SERVING, streams ended, unary calls get --shutdown-grace.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/streamgate", "health"]
ENTRYPOINT ["/usr/local/bin/streamgate"]
