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
# The coscheduling plugin's pod group (upstream's --gang).
LABEL_POD_GROUP = "pod-group.scheduling.sigs.k8s.io/name"
LABEL_POD_GROUP_MIN = "pod-group.scheduling.sigs.k8s.io/min-available"
# Per-user isolation: a namespace labelled so shows each non-admin user only the jobs of their uid.
LABEL_ISOLATE_USER = "arena.kubeflow.org/isolate-user"
# The ConfigMap `<name>-<kind>` upstream makes with every job (and reads to delete it).
LABEL_CREATED_BY_ARENA = {"createdBy": "arena"}
# Aliyun's ENI annotation: upstream renders no hostNetwork for such pods.
ANNOTATION_ENI = "k8s.aliyun.com/eni"
ANNOTATION_REQUESTED_GPUS = "requestGPUsOfJobOwner"

INIT_CONTAINER = "init-code"  # the code-sync init container
