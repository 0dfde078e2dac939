"""The simulated OpenShift Service Mesh 3 operator side of one lab cluster (``python -m lab.sail``):
the Sail operator (Istio, IstioRevision, IstioCNI) and each revision's istiod as far as the lab
needs it (Istio's Gateway API deployment controller). See tests/lab/README.md, "OSSM 3 side"."""
