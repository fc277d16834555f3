"""Google Cloud side of the cloud boundary: network, GKE cluster, GPU node pools, GCS weight cache, platform."""
