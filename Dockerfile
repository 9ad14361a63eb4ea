# syntax=docker/dockerfile:1
#
# actgate container image: `docker build -t actgate:0.1.0 .`
#
# Stage 1 builds the release binary with the Rust toolchain (aws-lc-rs needs
# only the C compiler the image ships). Stage 2 is distroless: glibc and CA
# certificates, no shell, no package manager, running as the `nonroot` user
# (65532). The binary links glibc dynamically, so the builder is the Debian
# release the runtime image is based on (bookworm = Debian 12).

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Release profile without debug info and with symbols stripped: the repository
# keeps debug info for profiling, the image does not need it.
ENV CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_STRIP=symbols
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# Cache mounts keep the registry and compiled dependencies between builds; the
# binary is copied out of the cached target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin actgate \
    && install -D -m 0755 target/release/actgate /out/actgate

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/actgate /usr/local/bin/actgate
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
# 8443: mTLS listener; 9901: admin listener (/healthz, /readyz, /metrics).
EXPOSE 8443 9901
ENTRYPOINT ["/usr/local/bin/actgate"]
CMD ["serve", "--config", "/etc/actgate/config/actgate.toml"]
