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
RUN bazel --batch build -c opt //sidecar:tether-injector \
 && install -D -m 0755 bazel-bin/sidecar/tether-injector /out/tether-injector

# Runtime stage: tetherd's runtime libraries (the injector links a subset of
# what tetherd does: Abseil, OpenSSL, CivetWeb, prometheus-cpp, protobuf);
# trim to its `ldd` once //sidecar:tether-injector builds.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libabsl20220623 libgrpc++1.51 libprotobuf32 librsync2 \
      libssl3 libyaml-cpp0.7 libcurl4 libcivetweb1 libprometheus-cpp-core1.0 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 tether \
 && useradd --system --uid 65532 --gid 65532 --no-create-home \
      --home-dir /nonexistent tether
COPY --from=build /out/tether-injector /usr/local/bin/tether-injector
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/tether-injector"]
CMD ["--listen=0.0.0.0:8443"]
