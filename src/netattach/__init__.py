"""netattach: Multus-compatible multi-network attachment for Kubernetes pods."""

__version__ = "0.1.0"
