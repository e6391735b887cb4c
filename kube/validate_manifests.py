#!/usr/bin/python3
"""Checks rendered Kubernetes manifests against the official client's models.

Usage: /usr/bin/python3 kube/validate_manifests.py FILE.json...

Each file holds one object (JSON). It is walked against the object model of
the Kubernetes Python client (Debian python3-kubernetes): every key must be a
field of the model (by its JSON name in `attribute_map`) and every value must
have the type `openapi_types` declares. The client's own deserializer ignores
unknown keys and coerces types, so it would pass typos; this walk does not.
Each model is then constructed with client-side validation on, which checks
required fields (e.g. a container's name).

autoscaling/v2 HorizontalPodAutoscaler is newer than the packaged client and
is checked against V2beta2HorizontalPodAutoscaler, which has the same fields
for what Tether renders (metrics, behavior, scaleTargetRef). Likewise a
container's `restartPolicy` (Kubernetes 1.28+, only "Always", only on init
containers: a native sidecar, which the injector adds) is checked here.

Prints one line per file; exits 1 when any file fails, 2 on usage errors.
"""

import json
import re
import sys

from kubernetes import client

# (apiVersion, kind) -> model class name.
MODELS = {
    ("apps/v1", "Deployment"): "V1Deployment",
    ("apps/v1", "StatefulSet"): "V1StatefulSet",
    ("v1", "Service"): "V1Service",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("autoscaling/v2", "HorizontalPodAutoscaler"):
        "V2beta2HorizontalPodAutoscaler",
    # Pods the injector patches, and workloads `tether inject` prints.
    ("v1", "Pod"): "V1Pod",
    ("batch/v1", "Job"): "V1Job",
    ("batch/v1", "CronJob"): "V1CronJob",
    # Cluster install (deploy/).
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
    ("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"):
        "V1ClusterRoleBinding",
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"):
        "V1MutatingWebhookConfiguration",
}

_LIST = re.compile(r"^list\[(.*)\]$")
_DICT = re.compile(r"^dict\(([^,]*), (.*)\)$")


class Walker:
    """Walks one object, collecting every problem (not just the first)."""

    def __init__(self):
        self.errors = []
        self.config = client.Configuration()
        self.config.client_side_validation = True

    def fail(self, path, message):
        self.errors.append(f"{path}: {message}")
        return None

    def check(self, value, type_name, path):
        """Returns `value` converted for the model constructor, or None."""
        if value is None:
            return self.fail(path, f"null where {type_name} is expected")
        match = _LIST.match(type_name)
        if match:
            if not isinstance(value, list):
                return self.fail(path, f"expected a list, got {_kind(value)}")
            return [self.check(v, match.group(1), f"{path}[{i}]")
                    for i, v in enumerate(value)]
        match = _DICT.match(type_name)
        if match:
            if not isinstance(value, dict):
                return self.fail(path, f"expected a map, got {_kind(value)}")
            return {k: self.check(v, match.group(2), f"{path}.{k}")
                    for k, v in value.items()}
        if type_name == "object":
            # In the models Tether renders, "object" is IntOrString
            # (targetPort, maxSurge, maxUnavailable, probe ports).
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                return self.fail(
                    path, f"expected an int or a string, got {_kind(value)}")
            return value
        if type_name in ("int", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                return self.fail(path, f"expected an int, got {_kind(value)}")
            return value
        if type_name == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return self.fail(path, f"expected a number, got {_kind(value)}")
            return value
        if type_name in ("str", "date", "datetime"):
            if not isinstance(value, str):
                return self.fail(path, f"expected a string, got {_kind(value)}")
            return value
        if type_name == "bool":
            if not isinstance(value, bool):
                return self.fail(path, f"expected a bool, got {_kind(value)}")
            return value
        return self.check_model(value, type_name, path)

    def check_model(self, value, type_name, path):
        klass = getattr(client, type_name, None)
        if klass is None:
            return self.fail(path, f"unknown model {type_name}")
        if not isinstance(value, dict):
            return self.fail(
                path, f"expected a {type_name} object, got {_kind(value)}")
        by_json_name = {j: p for p, j in klass.attribute_map.items()}
        kwargs = {}
        ok = True
        for key, item in value.items():
            if (type_name, key) == ("V1Container", "restartPolicy"):
                self.check_native_sidecar(item, f"{path}.{key}")
                continue
            attr = by_json_name.get(key)
            if attr is None:
                self.fail(f"{path}.{key}", f"unknown field of {type_name}")
                ok = False
                continue
            before = len(self.errors)
            kwargs[attr] = self.check(item, klass.openapi_types[attr],
                                      f"{path}.{key}")
            ok = ok and len(self.errors) == before
        if not ok:
            return None
        try:
            return klass(local_vars_configuration=self.config, **kwargs)
        except (ValueError, TypeError) as e:
            return self.fail(path, f"{type_name}: {e}")

    def check_native_sidecar(self, value, path):
        if ".initContainers[" not in path:
            self.fail(path, "only init containers have a restartPolicy")
        elif value != "Always":
            self.fail(path, f"{value!r}: the only container restartPolicy "
                      "is 'Always'")


def _kind(value):
    return {dict: "a map", list: "a list", str: "a string", bool: "a bool",
            int: "an int", float: "a number"}.get(type(value),
                                                  type(value).__name__)


def validate(obj):
    """Returns the problems in one manifest (empty when it is valid)."""
    if not isinstance(obj, dict):
        return ["$: a manifest must be an object"]
    key = (obj.get("apiVersion"), obj.get("kind"))
    model = MODELS.get(key)
    if model is None:
        return [f"$: unsupported apiVersion/kind {key[0]}/{key[1]}"]
    walker = Walker()
    walker.check_model(obj, model, "$")
    if not walker.errors and not (obj.get("metadata") or {}).get("name"):
        walker.fail("$.metadata.name", "required")
    return walker.errors


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    failed = 0
    for path in argv[1:]:
        try:
            with open(path, encoding="utf-8") as f:
                obj = json.load(f)
        except (OSError, ValueError) as e:
            print(f"FAIL {path}: {e}")
            failed += 1
            continue
        errors = validate(obj)
        name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}" \
            if isinstance(obj, dict) else "?"
        if errors:
            failed += 1
            print(f"FAIL {path} ({name}):")
            for error in errors:
                print(f"  {error}")
        else:
            print(f"ok   {path} ({name})")
    print(f"{len(argv) - 1 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
