"""netattach.doctor.hostconfig: netplan (with lines), networkd and NetworkManager files."""

from __future__ import annotations

from pathlib import Path

from netattach.doctor.hostconfig import read_host_config

FIELD_REPORT_NETPLAN = """\
network:
  ethernets:
    enp16s0f0:
      dhcp4: false
      optional: true
    enp16s0f1:
      dhcp4: false
      optional: true
    enp30s0:
      dhcp4: true
  vlans:
    vlan.100:
      id: 100
      link: enp16s0f0
      addresses: [192.0.2.100/24]
    vlan.200:
      id: 200
      link: enp16s0f1
      addresses: [198.51.100.100/24]
  version: 2
"""


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_netplan_field_report_vlans_with_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "etc/netplan/99-my-config.yaml", FIELD_REPORT_NETPLAN)
    host = read_host_config(tmp_path)
    [v100] = host.find_vlan("enp16s0f0", 100)
    assert (v100.name, v100.manager, v100.file, v100.line, v100.key) == (
        "vlan.100", "netplan", "/etc/netplan/99-my-config.yaml", 12, "network.vlans.vlan.100")
    assert v100.addresses == ("192.0.2.100/24",)
    assert v100.describe() == ("netplan: /etc/netplan/99-my-config.yaml line 12 "
                               "(network.vlans.vlan.100)")
    assert host.find("enp30s0")[0].kind == "ethernet"
    assert not host.problems


def test_netplan_run_overrides_etc_and_bad_yaml_is_a_problem(tmp_path: Path) -> None:
    write(tmp_path, "etc/netplan/50-a.yaml", FIELD_REPORT_NETPLAN)
    write(tmp_path, "run/netplan/50-a.yaml", "network: {bridges: {br0: {interfaces: []}}}\n")
    write(tmp_path, "etc/netplan/60-bad.yaml", "network: [\n")
    host = read_host_config(tmp_path)
    assert [d.name for d in host.devices] == ["br0"]
    assert host.devices[0].file == "/run/netplan/50-a.yaml"
    assert any("60-bad.yaml" in p for p in host.problems)


def test_networkd_netdev_and_parent_from_network(tmp_path: Path) -> None:
    write(tmp_path, "etc/systemd/network/10-v100.netdev",
          "[NetDev]\nName=eth1.100\nKind=vlan\n\n[VLAN]\nId=100\n")
    write(tmp_path, "etc/systemd/network/10-eth1.network",
          "[Match]\nName=eth1\n\n[Network]\nVLAN=eth1.100\nVLAN=eth1.200\n")
    write(tmp_path, "usr/lib/systemd/network/10-v100.netdev",  # masked by /etc
          "[NetDev]\nName=other\nKind=vlan\n[VLAN]\nId=7\n")
    host = read_host_config(tmp_path)
    [d] = [d for d in host.devices if d.manager == "systemd-networkd"]
    assert (d.name, d.kind, d.vlan_id, d.parent, d.line) == ("eth1.100", "vlan", 100, "eth1", 2)
    assert d.file == "/etc/systemd/network/10-v100.netdev"


def test_networkmanager_vlan_keyfile_parent_by_uuid(tmp_path: Path) -> None:
    write(tmp_path, "etc/NetworkManager/system-connections/eth1.nmconnection",
          "[connection]\nid=eth1\nuuid=1111\ntype=ethernet\ninterface-name=eth1\n")
    write(tmp_path, "etc/NetworkManager/system-connections/v300.nmconnection",
          "[connection]\nid=vlan300\ntype=vlan\ninterface-name=eth1.300\n\n"
          "[vlan]\nparent=1111\nid=300\n\n[ipv4]\naddress1=203.0.113.5/24\nmethod=manual\n")
    host = read_host_config(tmp_path)
    [v] = host.find_vlan("eth1", 300)
    assert (v.name, v.manager, v.line, v.key) == ("eth1.300", "NetworkManager", 4,
                                                  "[connection] id=vlan300")
    assert v.addresses == ("203.0.113.5/24",)


def test_empty_root_declares_nothing(tmp_path: Path) -> None:
    host = read_host_config(tmp_path)
    assert host.devices == () and host.problems == () and host.files == ()
