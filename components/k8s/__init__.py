"""In-cluster components. They receive the Kubernetes provider through ``opts.providers``."""
