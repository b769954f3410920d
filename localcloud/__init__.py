"""The local cloud: runs the SAM application of template.yaml on this machine (see cloud.py)."""

from localcloud.cloud import LocalCloud, LocalCloudError

__all__ = ["LocalCloud", "LocalCloudError"]
