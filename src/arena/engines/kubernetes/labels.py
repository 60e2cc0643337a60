"""Names Arena writes on cluster objects and reads back: one leaf module for render and read.

`render` writes them and `status`/`jobview`/`engine` read them; neither side imports the other.
"""
from __future__ import annotations

# Labels Arena owns on every object; a user label may not redefine them.
LABEL_APP = "app"
LABEL_RELEASE = "release"
LABEL_CREATED_BY = "createdBy"
LABEL_UID = "arena.kubeflow.org/uid"
LABEL_KUEUE_QUEUE = "kueue.x-k8s.io/queue-name"
ANNOTATION_USERNAME = "arena.kubeflow.org/username"
ANNOTATION_REQUESTED_GPUS = "requestGPUsOfJobOwner"

INIT_CONTAINER = "init-code"  # the code-sync init container
