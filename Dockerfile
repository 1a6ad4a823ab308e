# syntax=docker/dockerfile:1
#
# defender-bridge container image: a Rust build stage, then the binary alone on a distroless
# base (glibc and CA certificates, no shell, no package manager), running as an unprivileged
# user. The root file system can be mounted read-only: the service writes only its audit log,
# to the path DEFENDER_BRIDGE_AUDIT_LOG names (mount a volume there).
#
# Build (from the repository root):
#   docker build -t defender-bridge:0.1.0 --build-arg DEFENDER_BRIDGE_COMMIT="$(git rev-parse --short HEAD)" .
# Run: see docs/operations.md ("Container").

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS builder
# mimalloc (the binary's allocator) and ring compile C: slim images lack a C compiler.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Shown as the `commit` label of defender_bridge_build_info.
ARG DEFENDER_BRIDGE_COMMIT=unknown
ENV DEFENDER_BRIDGE_COMMIT=${DEFENDER_BRIDGE_COMMIT}
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin defender-bridge \
 && install -D -m 0755 target/release/defender-bridge /out/defender-bridge

# distroless "cc": glibc, libgcc and ca-certificates; the `nonroot` tag runs as 65532:65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/defender-bridge /usr/local/bin/defender-bridge
USER 65532:65532
# gRPC (TLS unless --insecure-plaintext) and the admin listener (/metrics, /healthz, /readyz).
EXPOSE 50051 9464
ENTRYPOINT ["/usr/local/bin/defender-bridge"]
CMD ["serve"]
