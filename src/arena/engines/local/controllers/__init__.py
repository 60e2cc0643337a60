"""Per-kind controllers: what follows a replica's exit, an eviction, or the passing of time.

One small interface (`base.Controller`) and three families: the Kubeflow Training Operator's rules
(`kubeflow`), Volcano's lifecycle policies (`volcano`) and AppWrapper's fault tolerance around either
(`appwrapper`). Each kind picks its controller through its registry entry (`Kind.local_controller`); the
reconcile loop only ever calls the interface.
"""
