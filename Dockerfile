# The lballoc-operator container image: `make docker-build IMG=registry/lballoc-operator:tag`.
#
# Two stages on Debian 12 (bookworm):
#   build    the Debian -dev packages and CMake; builds the lballoc-operator target only;
#            hack/runtime-rootfs.sh copies the binary and the shared libraries it loads into
#            /rootfs (glibc, libstdc++, cpprestsdk, OpenSSL, glog, gflags and their own deps);
#   runtime  FROM scratch + /rootfs: no shell, no package manager, nothing the binary does not
#            load. It runs as a numeric non-root user, so Kubernetes can check runAsNonRoot
#            without an /etc/passwd.
# config/manager/manager.yaml runs it with command ["/lballoc-operator"] as user 65532 and a
# read-only root filesystem; test/manifests/manifests_test.py checks that the two agree.
#
# No Docker engine runs on the machine where lballoc is developed: this file is not built there
# (the rootfs step is, by test/manifests/rootfs_test.py).

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config binutils \
      libcpprest-dev rapidjson-dev libssl-dev libgoogle-glog-dev libgflags-dev \
      libgtest-dev libgmock-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# RelWithDebInfo is the build the tests run on; the rootfs step strips the debug information.
# (GoogleTest is only needed because the top-level CMakeLists.txt looks for it.)
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLBALLOC_BENCH=OFF \
 && cmake --build /build -j"$(nproc)" --target lballoc-operator \
 && hack/runtime-rootfs.sh /build/operator/lballoc-operator /rootfs

FROM scratch
COPY --from=build /rootfs/ /
# glog would otherwise try to write log files under /tmp, which this image does not have.
ENV GLOG_logtostderr=1
USER 65532:65532
ENTRYPOINT ["/lballoc-operator"]
