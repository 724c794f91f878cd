"""Where netattach's files are on a node (shared by the daemon, the shim's config and
`netattach install`/`uninstall`). The shim keeps its own copy of the socket defaults: it
imports nothing of netattach."""

DEFAULT_SOCKET_DIR = "/run/netattach"
SOCKET_NAME = "netattach.sock"
GENERATED_CONF = "00-netattach.conflist"
SHIM_TYPE = "netattach-shim"
