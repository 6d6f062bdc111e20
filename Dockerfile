# Drover's container image: drover-sidecar, drover-controller and droverctl in one image.
#
#   docker build -t drover .        # or: buildah bud -t drover .   (scripts/image.sh does this
#                                   # with buildah, offline, from locally made base images)
#
# Stages:
#   build         debian:bookworm, the project's own scripts/setup.sh --build-deps-only, the
#                 release preset; the binaries end up in /out/bin.
#   runtime-base  debian:bookworm-slim, the runtime libraries only (no -dev package, no
#                 compiler, no Node.js) and the non-root user 10001.
#   prebuilt      runtime-base + binaries already built on the host, taken from the build
#                 context's bin/ folder (the test suite's quick path: scripts/image.sh
#                 --prebuilt makes such a context). Never part of a default build.
#   runtime       runtime-base + the binaries of the build stage. The last stage, so the
#                 default target.
#
# No ENTRYPOINT: the image holds three programs and the Helm charts choose which one runs
# (`command: [drover-controller, ...]`, `command: [drover-sidecar, ..., --, node, app.js]`).
# The default command prints the sidecar's flags. The image has no Node.js: an app image that
# runs `drover-sidecar -- node app.js` adds its own runtime on top of this one (see
# docs/image.md).

# The binaries to build and ship. Names whose CMake target does not exist in the tree being
# built are left out with a warning (the suite's image test checks the image against the
# targets CMake really defines).
ARG BINARIES="drover-sidecar drover-controller droverctl"

FROM debian:bookworm AS build
WORKDIR /src
# setup.sh alone first: the package layer is reused while only the sources change.
COPY scripts/setup.sh scripts/setup.sh
RUN bash scripts/setup.sh --build-deps-only && rm -rf /var/lib/apt/lists/*
COPY . .
ARG BINARIES
# Tests are off: they need Node.js and are not run here.
RUN set -eu; \
    cmake --preset release -DDROVER_BUILD_TESTS=OFF >/dev/null; \
    targets=""; \
    for b in $BINARIES; do \
      if cmake --build --preset release --target help | grep -qx "$b: phony"; then \
        targets="$targets $b"; \
      else \
        echo "Dockerfile: no CMake target $b in this tree; left out of the image" >&2; \
      fi; \
    done; \
    [ -n "$targets" ] || { echo "Dockerfile: none of '$BINARIES' is a CMake target" >&2; exit 1; }; \
    cmake --build --preset release --target $targets; \
    mkdir -p /out/bin; \
    for b in $targets; do \
      install -m 0755 "$(find build/release -name "$b" -type f -perm -u+x | head -n 1)" /out/bin/; \
    done; \
    ls -l /out/bin

FROM debian:bookworm-slim AS runtime-base
# The shared libraries the binaries link (check: ldd /usr/local/bin/*): gRPC and protobuf,
# cpprestsdk, prometheus-cpp, abseil, yaml-cpp, OpenSSL; CA certificates for TLS to the
# cluster API and between Drover's parts.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libcpprest2.10 libprometheus-cpp-core1.0 libabsl20220623 \
      libyaml-cpp0.7 libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 drover \
 && useradd --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin drover
USER 10001
CMD ["drover-sidecar", "--help"]

FROM runtime-base AS prebuilt
COPY bin/ /usr/local/bin/

FROM runtime-base AS runtime
COPY --from=build /out/bin/ /usr/local/bin/
