# tetherd image, from Debian bookworm packages only.
#   docker build -f deploy/tetherd.Dockerfile -t REGISTRY/tether/tetherd:TAG .
# (context: the repository root; tetherd.Dockerfile.dockerignore applies)

# Build stage: the toolchain and -dev packages of tools/setup (minus the
# Python, test-only and clang parts tetherd does not need to build).
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
RUN bazel --batch build -c opt //controlplane:tetherd \
 && install -D -m 0755 bazel-bin/controlplane/tetherd /out/tetherd

# Runtime stage: the shared libraries tetherd links (ldd), no compiler, no
# Python, no shell use at run time.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libabsl20220623 libgrpc++1.51 libprotobuf32 librsync2 \
      libssl3 libyaml-cpp0.7 libcurl4 libcivetweb1 libprometheus-cpp-core1.0 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 tether \
 && useradd --system --uid 65532 --gid 65532 --no-create-home \
      --home-dir /var/lib/tether tether
COPY --from=build /out/tetherd /usr/local/bin/tetherd
USER 65532:65532
ENV HOME=/var/lib/tether
EXPOSE 7700
ENTRYPOINT ["/usr/local/bin/tetherd"]
CMD ["--listen=0.0.0.0:7700", "--state_dir=/var/lib/tether"]
