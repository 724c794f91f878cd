"""Putting netattach on a node: the CNI executables (`binaries`), the runtime's primary CNI
config netattach goes in front of (`primary`), and `netattach install`/`uninstall`
(`install`). Used by the CLI and by the daemon's config generation."""
