"""AWS components: network, EKS cluster, GPU node pools, weight cache, Cluster Autoscaler."""
