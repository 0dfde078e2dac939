"""The simulated mesh control plane: ``python -m lab.mesh`` plays one mesh's Service Mesh operator,
istiod (federation discovery and ServiceMeshPeer status) and its federation gateways.

See tests/lab/README.md ("Simulated mesh control plane") for behaviour, defaults and the failure
table; ``lab.mesh.control`` injects faults into a running mesh.
"""
