"""netattach sandbox: a node, a switch, peers and pods as network namespaces on one machine.

The pods get their networks through the real `netattach` CNI executable, from the same
NetworkAttachmentDefinition and Pod YAML a cluster would take.
"""
