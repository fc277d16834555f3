"""The NVIDIA device plugin DaemonSet, for GPU nodes whose AMI lacks it (EKS AL2023 NVIDIA)."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from strait.gpu_labels import DEVICE_PLUGIN_LABEL, GPU_TOLERATION
from strait.naming import child
from strait.tags import k8s_labels, selector_labels


@dataclass(frozen=True, kw_only=True)
class NvidiaDevicePluginArgs:
    image: str
    version: str
    namespace: str = "kube-system"


class NvidiaDevicePlugin(pulumi.ComponentResource):
    def __init__(self, name: str, args: NvidiaDevicePluginArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:k8s:NvidiaDevicePlugin", name, None, opts)
        labels = k8s_labels(name="nvidia-device-plugin", instance=name, component="gpu-driver", version=args.version)
        sel = selector_labels(labels)
        # It creates a socket in the kubelet's root-owned directory, so it must run as root, and it has no
        # HTTP endpoint to probe. Checkov is told so, per check, on the object itself.
        skips = {"CKV_K8S_8": "no HTTP endpoint to probe", "CKV_K8S_9": "no HTTP endpoint to probe",
                 "CKV_K8S_23": "writes its socket into the root-owned kubelet directory",
                 "CKV_K8S_40": "writes its socket into the root-owned kubelet directory"}
        annotations = {f"checkov.io/skip{i}": f"{k}={v}" for i, (k, v) in enumerate(sorted(skips.items()), start=1)}
        k8s.apps.v1.DaemonSet(child(name, "ds"), metadata={"name": "nvidia-device-plugin", "namespace": args.namespace,
                                                           "labels": labels, "annotations": annotations}, spec={
            "selector": {"matchLabels": sel},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "automountServiceAccountToken": False,
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "nodeSelector": {DEVICE_PLUGIN_LABEL: "true"},
                    "tolerations": [GPU_TOLERATION],
                    "containers": [{
                        "name": "nvidia-device-plugin",
                        "image": args.image,
                        "imagePullPolicy": "IfNotPresent",
                        "env": [{"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                        # The plugin writes a socket into the kubelet's directory; it needs no other privilege.
                        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "device-plugin", "mountPath": "/var/lib/kubelet/device-plugins"}],
                    }],
                    "volumes": [{"name": "device-plugin", "hostPath": {"path": "/var/lib/kubelet/device-plugins"}}],
                },
            },
        }, opts=pulumi.ResourceOptions(parent=self))
        k8s.networking.v1.NetworkPolicy(child(name, "netpol"), metadata={
            "name": "nvidia-device-plugin", "namespace": args.namespace, "labels": labels},
            spec={"podSelector": {"matchLabels": sel}, "policyTypes": ["Ingress"]},  # nothing connects to it
            opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})
