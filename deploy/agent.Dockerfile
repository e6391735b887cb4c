# Agent image: the self-contained agent bundle under /opt/tether, which the
# init container the renderer adds (kube/pod_mutation.cc, `tether-agent-install`)
# copies into every service pod with `cp -a /opt/tether/. /tether/`.
#   docker build -f deploy/agent.Dockerfile -t REGISTRY/tether/agent:TAG .
# Layout and why: deploy/README.md "Agent image".

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      bazel-bootstrap bazel-platforms g++ pkg-config \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev librsync-dev libyaml-cpp-dev libssl-dev \
      libgtest-dev libgmock-dev nlohmann-json3-dev \
      libcivetweb-dev prometheus-cpp-dev \
      patchelf \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN bazel --batch build -c opt //agent:tether-agent \
      //agent/native:tether-native-worker //agent/python:tether_runner.pyz \
 && deploy/bundle_agent.sh /out/tether \
      bazel-bin/agent/tether-agent \
      bazel-bin/agent/native/tether-native-worker \
      bazel-bin/agent/python/tether_runner.pyz

# The init container runs `cp` from this image, so it keeps bookworm-slim's
# coreutils; nothing from it is used in the user's pod except /opt/tether.
FROM debian:bookworm-slim
COPY --from=build /out/tether /opt/tether
# The bundle's interpreter path is /tether/lib/... (where pods mount it);
# the link lets the image run it too: docker run IMAGE /tether/bin/tether-agent --help
RUN ln -s /opt/tether /tether
USER 65532:65532
