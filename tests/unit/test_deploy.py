"""deploy/ and the Dockerfile, checked offline.

* Every manifest validates against the Kubernetes OpenAPI schemas bundled with the
  `kubernetes-validate` package (its newest version, strict: no unknown fields).
* The NAD CRD is the upstream one in substance; NAD objects validate against its schema.
* The ClusterRole grants exactly the (group, resource, verb) set `KubeClient` uses,
  measured by driving every public method against the fake API server.
* The DaemonSet and the Dockerfile have the structure docs/install.md promises.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.kubeapi.fixture import KubeAPIHandle, kube_api  # noqa: F401

kubernetes_validate = pytest.importorskip("kubernetes_validate")
jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MANIFESTS = sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")


def load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def objects() -> list[dict[str, Any]]:
    return [d for p in MANIFESTS for d in load_all(p)]


def by_kind(kind: str) -> dict[str, Any]:
    found = [o for o in objects() if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} in deploy/, found {len(found)}"
    return found[0]


def crd_schema() -> dict[str, Any]:
    crd = by_kind("CustomResourceDefinition")
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


# --- schemas ------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest_and_only_those():
    kust = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert kust["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kust["kind"] == "Kustomization"
    assert sorted(kust["resources"]) == sorted(p.name for p in MANIFESTS)
    images = {i["name"] for i in kust.get("images", [])}
    used = {c["image"] for o in objects() if o["kind"] == "DaemonSet"
            for c in (*o["spec"]["template"]["spec"]["containers"],
                      *o["spec"]["template"]["spec"].get("initContainers", []))}
    assert used <= images, "every image the manifests use can be set through kustomize"


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_against_the_kubernetes_schemas(path: Path):
    version = kubernetes_validate.latest_version()
    for obj in load_all(path):
        kubernetes_validate.validate(obj, version, strict=True)


def test_nad_crd_is_the_upstream_one_in_substance():
    crd = by_kind("CustomResourceDefinition")
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "network-attachment-definitions.k8s.cni.cncf.io"
    assert spec["group"] == "k8s.cni.cncf.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {"plural": "network-attachment-definitions",
                             "singular": "network-attachment-definition",
                             "kind": "NetworkAttachmentDefinition",
                             "shortNames": ["net-attach-def"]}
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    schema = version["schema"]["openAPIV3Schema"]
    assert schema["properties"]["spec"]["properties"]["config"]["type"] == "string"
    assert set(schema["properties"]) == {"apiVersion", "kind", "metadata", "spec"}


def _nad(config: Any) -> dict[str, Any]:
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": "vlan100-conf", "namespace": "default"},
            "spec": {"config": config}}


def test_nads_validate_structurally_against_the_crd_schema():
    schema = crd_schema()
    conf = json.dumps({"cniVersion": "0.3.1", "type": "vlan", "master": "eth1",
                       "vlanId": 100, "ipam": {"type": "static"}})
    jsonschema.validate(_nad(conf), schema)
    jsonschema.validate({**_nad(conf), "spec": {}}, schema)  # spec-less NADs are valid
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(_nad({"type": "vlan"}), schema)  # config is a string
    for example in sorted((ROOT / "examples").rglob("*.yaml")):
        for obj in load_all(example):
            if obj.get("kind") == "NetworkAttachmentDefinition":
                jsonschema.validate(obj, schema)


def test_configmap_daemon_config_loads_with_known_keys(tmp_path, monkeypatch):
    from netattach.daemon.config import DAEMON_KEYS, DaemonConfig

    cm = by_kind("ConfigMap")
    conf = json.loads(cm["data"]["daemon.json"])
    (tmp_path / "daemon.json").write_text(cm["data"]["daemon.json"])
    monkeypatch.setenv("NODE_NAME", "node-1")  # the DaemonSet sets it from spec.nodeName
    cfg = DaemonConfig.load(str(tmp_path / "daemon.json"),
                            {"metrics_address": "192.0.2.1:9091"})
    assert str(cfg.socket_path) == "/run/netattach/netattach.sock"
    assert cfg.kubeconfig == "" and not cfg.cni_bin_dir  # the pod's service account
    meta_keys = {"cniDir", "confDir", "binDir", "chrootDir", "logLevel"}
    assert set(conf) <= set(DAEMON_KEYS) | meta_keys
    assert conf["socketDir"] == "/run/netattach"
    assert conf["cniConfigDir"] == "/etc/cni/net.d"
    assert cfg.overrides["chrootDir"] == "/hostroot"  # reaches every request's meta plugin


# --- RBAC: exactly what the code uses -------------------------------------------------------


def used_permissions(kube_api: KubeAPIHandle) -> set[tuple[str, str, str]]:  # noqa: F811
    """(group, resource, verb) of every request KubeClient's public methods make."""
    from netattach.kube.client import KubeClient

    kube_api.add_pod("p1", annotations={"k8s.v1.cni.cncf.io/networks": "vlan100-conf"})
    kube_api.add_nad("vlan100-conf", config={"cniVersion": "1.0.0", "type": "vlan"})
    with KubeClient.from_kubeconfig(kube_api.kubeconfig_path) as client:
        pod = client.get_pod("default", "p1")
        client.get_nad("default", "vlan100-conf")
        assert client.set_network_status("default", "p1", pod.uid, "[]")
        assert client.record_event(pod, "Normal", "AddedInterface", "Add net1")
        pods = client.list_and_watch_pods("node-1", server_timeout=1)
        assert next(pods)[0] == "ADDED"  # from the list
        kube_api.add_pod("p2")
        assert next(pods)[0] == "ADDED"  # from the watch
        pods.close()
        nads = client.list_and_watch_nads(server_timeout=1)
        assert next(nads)[0] == "ADDED"
        kube_api.add_nad("other", config={"cniVersion": "1.0.0", "type": "macvlan"})
        assert next(nads)[0] == "ADDED"
        nads.close()
    # a watch is logged when its stream ends (server_timeout=1 s after it started)
    deadline = time.monotonic() + 10
    while sum(r.verb == "watch" for r in kube_api.requests()) < 2:
        assert time.monotonic() < deadline, "the watch requests never completed"
        time.sleep(0.05)
    seen = {(r.group, r.resource, r.verb) for r in kube_api.requests() if r.resource}
    assert all(r.status < 400 for r in kube_api.requests()), "a call failed"
    return seen


def granted(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(g, res, v) for rule in role["rules"] for g in rule["apiGroups"]
            for res in rule["resources"] for v in rule["verbs"]}


def test_clusterrole_matches_the_calls_the_code_makes(kube_api):  # noqa: F811
    used = used_permissions(kube_api)
    role = granted(by_kind("ClusterRole"))
    assert used - role == set(), f"missing from the ClusterRole: {sorted(used - role)}"
    assert role - used == set(), f"granted but never used: {sorted(role - used)}"
    assert not any(v == "*" or r == "*" or g == "*" for g, r, v in role)


def test_binding_gives_the_role_to_the_daemonsets_service_account():
    sa = by_kind("ServiceAccount")
    binding = by_kind("ClusterRoleBinding")
    ds = by_kind("DaemonSet")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": "ClusterRole",
                                  "name": by_kind("ClusterRole")["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                    "namespace": "kube-system"}]
    assert ds["metadata"]["namespace"] == sa["metadata"]["namespace"] == "kube-system"
    assert ds["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]


# --- the DaemonSet ------------------------------------------------------------------------


def pod_spec() -> dict[str, Any]:
    return by_kind("DaemonSet")["spec"]["template"]["spec"]


def container(name: str) -> dict[str, Any]:
    spec = pod_spec()
    return next(c for c in (*spec.get("initContainers", []), *spec["containers"])
                if c["name"] == name)


def test_daemonset_shape():
    spec = pod_spec()
    assert spec["hostNetwork"] is True
    assert {"operator": "Exists"} in spec["tolerations"]
    hostpaths = {v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
    assert {"/opt/cni/bin", "/etc/cni/net.d", "/var/lib/cni", "/run/netns", "/var/run/netns",
            "/run/netattach", "/opt/netattach", "/var/lib/netattach"} <= hostpaths
    daemon = container("daemon")
    mounts = {m["mountPath"]: m for m in daemon["volumeMounts"]}
    for netns in ("/run/netns", "/var/run/netns"):
        assert mounts[netns]["mountPropagation"] == "HostToContainer"
    # paths written into CNI configs are host paths: the daemon sees them unchanged
    conf = json.loads(by_kind("ConfigMap")["data"]["daemon.json"])
    for key in ("socketDir", "cniConfigDir", "cniDir", "confDir", "binDir"):
        assert any(conf[key] == m or conf[key].startswith(m + "/") for m in mounts), (
            f"{key} {conf[key]} is not mounted at its host path")
    assert daemon["resources"]["requests"] and daemon["resources"]["limits"]["memory"]
    assert {p["name"]: p["containerPort"] for p in daemon["ports"]} == {"metrics": 9091}
    assert any(a == "--metrics-address=$(POD_IP):9091" for a in daemon["args"])
    assert not any(a.startswith("--cni-bin-dir") for a in daemon["args"])


def test_daemonset_mounts_the_host_root_for_chroot_dir():
    """External delegates run chrooted into the host's / (Multus's chrootDir): it is
    mounted read-only at chrootDir, with pod namespaces propagated, and the directories
    delegates write on the host's root filesystem mounted writable over it."""
    spec = pod_spec()
    chroot_dir = json.loads(by_kind("ConfigMap")["data"]["daemon.json"])["chrootDir"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in container("daemon")["volumeMounts"]}
    root = mounts[chroot_dir]
    assert volumes[root["name"]]["hostPath"]["path"] == "/"
    assert root["readOnly"] is True and root["mountPropagation"] == "HostToContainer"
    below = {path: m for path, m in mounts.items() if path.startswith(chroot_dir + "/")}
    assert set(below) == {f"{chroot_dir}/var/lib/cni", f"{chroot_dir}/var/log"}
    for path, mount in below.items():  # each is the same host directory, writable
        assert volumes[mount["name"]]["hostPath"]["path"] == path.removeprefix(chroot_dir)
        assert not mount.get("readOnly")


def test_daemonset_uses_the_service_account_not_a_kubeconfig():
    from netattach.daemon.config import DEFAULT_SERVICE_ACCOUNT_DIR

    spec = pod_spec()
    assert spec["automountServiceAccountToken"] is True
    assert [c["name"] for c in spec["initContainers"]] == ["install"]
    conf = json.loads(by_kind("ConfigMap")["data"]["daemon.json"])
    assert "kubeconfig" not in conf and "serviceAccountDir" not in conf
    daemon = container("daemon")
    assert not any(a.startswith("--kubeconfig") for a in daemon["args"])
    # nothing hides the token volume the kubelet mounts
    assert not any(m["mountPath"] == DEFAULT_SERVICE_ACCOUNT_DIR
                   or DEFAULT_SERVICE_ACCOUNT_DIR.startswith(m["mountPath"] + "/")
                   for m in daemon["volumeMounts"])


def test_probes_ask_the_daemon_socket_for_healthz_and_readyz():
    daemon = container("daemon")
    conf = json.loads(by_kind("ConfigMap")["data"]["daemon.json"])
    sock = f"{conf['socketDir']}/netattach.sock"
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        command = daemon[probe]["exec"]["command"]
        assert sock in command[-1] and f"GET {path} " in command[-1]
        compile(command[-1], probe, "exec")  # the one-liner is valid Python


def test_install_init_container_matches_the_cli():
    from netattach.cli import build_parser

    install = container("install")
    args = build_parser().parse_args(install["args"])
    assert (args.command, args.mode, args.root) == ("install", "thick", "/host")
    mounts = {m["mountPath"] for m in install["volumeMounts"]}
    for host_path in (args.cni_bin_dir, args.runtime_dir, args.state_dir):
        assert "/host" + host_path in mounts
    assert install["securityContext"]["capabilities"]["drop"] == ["ALL"]


# --- the Dockerfile -----------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_is_multi_stage_with_a_slim_non_root_final_stage():
    instr = dockerfile()
    froms = [a for i, a in instr if i == "FROM"]
    assert len(froms) == 3
    assert froms[0].endswith(" AS builder") and froms[1].endswith(" AS bundle")
    args = dict(a.split("=", 1) for i, a in instr if i == "ARG" and "=" in a)
    assert "slim" in args["PYTHON_IMAGE"]
    final_start = max(n for n, (i, _) in enumerate(instr) if i == "FROM")
    final = instr[final_start:]
    runs = " ".join(a for i, a in final if i == "RUN")
    assert "--no-cache-dir" in runs and "--no-index" in runs
    assert not re.search(r"\b(gcc|build-essential|apt-get install)\b", runs)
    assert [a for i, a in final if i == "USER"] == ["65532:65532"]
    assert any(i == "HEALTHCHECK" for i, _ in final)
    assert any(i == "COPY" and "--from=bundle" in a for i, a in final)
    entry = next(a for i, a in final if i == "ENTRYPOINT")
    assert json.loads(entry) == ["netattach"]
    healthcheck = next(a for i, a in final if i == "HEALTHCHECK")
    cmd = json.loads(healthcheck.split(" CMD ", 1)[1])
    compile(cmd[-1], "HEALTHCHECK", "exec")


def test_dockerignore_keeps_the_build_context_small():
    lines = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*", "exclude everything, then list what the build reads"
    allowed = [ln[1:].rstrip("/") for ln in lines if ln.startswith("!")]
    copied = [src for i, a in dockerfile() if i == "COPY" and "--from" not in a
              for src in shlex.split(a)[:-1]]
    assert copied
    for src in copied:
        src = src.rstrip("/")
        assert any(src == a or src.startswith(a + "/") for a in allowed), (
            f"COPY {src} is excluded by .dockerignore")
