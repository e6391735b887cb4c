# tether-injector image, from Debian bookworm packages only.
#   docker build -f deploy/injector.Dockerfile -t REGISTRY/tether/tether-injector:TAG .
# (context: the repository root; injector.Dockerfile.dockerignore applies)

# Build stage: as tetherd.Dockerfile's.
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      bazel-bootstrap bazel-platforms g++ pkg-config \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev librsync-dev libyaml-cpp-dev libssl-dev \
      libgtest-dev libgmock-dev nlohmann-json3-dev libcurl4-openssl-dev \
      libcivetweb-dev prometheus-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The OpenSSL 3 shim Debian's civetweb needs for HTTPS (common/
# civetweb_openssl3.cc) is a data file the binary finds under
# $TETHER_DATA_DIR.
RUN bazel --batch build -c opt //sidecar:tether-injector \
 && install -D -m 0755 bazel-bin/sidecar/tether-injector /out/tether-injector \
 && install -D -m 0644 bazel-bin/common/libtether_civetweb_openssl3.so \
      /out/data/common/libtether_civetweb_openssl3.so

# Runtime stage: the shared libraries tether-injector links (ldd), and the
# unversioned libssl.so / libcrypto.so names civetweb opens at start-up.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libabsl20220623 libprotobuf32 libssl3 libcivetweb1 \
      libprometheus-cpp-core1.0 libatomic1 \
 && rm -rf /var/lib/apt/lists/* \
 && libdir=/usr/lib/$(uname -m)-linux-gnu \
 && ln -s libssl.so.3 "$libdir/libssl.so" \
 && ln -s libcrypto.so.3 "$libdir/libcrypto.so" \
 && groupadd --system --gid 65532 tether \
 && useradd --system --uid 65532 --gid 65532 --no-create-home \
      --home-dir /nonexistent tether
COPY --from=build /out/tether-injector /usr/local/bin/tether-injector
COPY --from=build /out/data /usr/local/lib/tether
ENV TETHER_DATA_DIR=/usr/local/lib/tether
USER 65532:65532
EXPOSE 8443 8080
ENTRYPOINT ["/usr/local/bin/tether-injector"]
CMD ["--listen=0.0.0.0:8443"]
