# syntax=docker/dockerfile:1
# netattach node image: `netattach daemon` (thick mode) plus, for the host, a
# self-contained Python runtime that the CNI executables in /opt/cni/bin run with.
# Build: make image   (docker build -t netattach:<version> .)
# See docs/install.md for why there are three stages.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- 1. builder: the wheels (netattach and its dependencies); build tools stay here ---
FROM ${PYTHON_IMAGE} AS builder
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --no-cache-dir --disable-pip-version-check --wheel-dir /dist '.[daemon]'

# --- 2. bundle: the host runtime /opt/netattach/<version>-<id> (see deploy/image/bundle-runtime.py)
FROM ${PYTHON_IMAGE} AS bundle
ARG NETATTACH_VERSION=0.1.0
RUN apt-get update \
    && apt-get install -y --no-install-recommends patchelf \
    && rm -rf /var/lib/apt/lists/*
COPY --from=builder /dist /dist
COPY deploy/image/bundle-runtime.py /usr/local/bin/bundle-runtime.py
RUN python /usr/local/bin/bundle-runtime.py --root /opt/netattach \
        --version "${NETATTACH_VERSION}" --wheels /dist --package netattach

# --- 3. final: slim Python, only the wheels installed, no compilers, no pip cache -------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="netattach" \
      org.opencontainers.image.description="Multus-compatible multi-network attachment for Kubernetes pods" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN --mount=type=bind,from=builder,source=/dist,target=/dist \
    python -m pip install --no-cache-dir --no-index --disable-pip-version-check \
        --find-links /dist 'netattach[daemon]' \
    && python -m pip uninstall -y --disable-pip-version-check pip setuptools wheel \
    && useradd --system --uid 65532 --home-dir /nonexistent --shell /usr/sbin/nologin netattach
COPY --from=bundle /opt/netattach /opt/netattach
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# Non-root by default: `netattach version`, `doctor -f`, `sandbox --help` need nothing more.
# The DaemonSet sets runAsUser: 0 for the daemon and the init container: they create
# network devices in pod namespaces (NET_ADMIN, setns needs SYS_ADMIN), write
# /opt/cni/bin and /etc/cni/net.d on the host, and the daemon's socket only accepts uid 0
# (docs/install.md, "Why root").
USER 65532:65532
# /healthz and /readyz are served on the daemon's unix socket only (root peers only), so
# this asks there, as the DaemonSet's exec probes do. Kubernetes ignores HEALTHCHECK; it is
# for `docker run --user 0 ... daemon`. `version` (the default command) has no socket, and
# fails this check by design: there is no daemon to be healthy.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-IS", "-c", "import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect('/run/netattach/netattach.sock'); s.sendall(b'GET /healthz HTTP/1.1\\r\\nHost: netattach\\r\\nConnection: close\\r\\n\\r\\n'); sys.exit(0 if s.recv(16).startswith(b'HTTP/1.1 200') else 1)"]
ENTRYPOINT ["netattach"]
CMD ["version"]
