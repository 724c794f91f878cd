"""The node daemon of thick mode (`netattach daemon`): CNI requests from netattach-shim
over a unix socket, served by the same core as thin mode, with watch caches, metrics and
config generation. See docs/thick-mode.md.

The package imports nothing: its worker processes (`python -m netattach.daemon.worker`)
run this file first, and must not pay for the daemon's HTTP server and metrics
(prometheus_client, http.server, ssl: 45 ms of imports and 4 MB of memory per worker).
`netattach.daemon.main.run` is the entry point.
"""
