#!/usr/bin/python3
"""Checks deploy/ statically: manifests, kustomization and Dockerfiles.

Run by //deploy:manifests_test with Debian's /usr/bin/python3 (python3-yaml,
python3-kubernetes). Nothing here needs a cluster, Docker or the network.

- Every object in every deploy/*.yaml (multi-document files included) is
  walked against the Kubernetes Python client's models by
  kube/validate_manifests.py: unknown fields and wrong types fail. YAML
  duplicate keys fail too (PyYAML would silently keep the last one).
- kustomization.yaml is not an object: its keys are checked against the
  kustomize fields used, its resources must exist, and every manifest file
  must be listed.
- Cross-references: Service and Deployment selectors match the pod labels,
  named ports exist, the PVC, ServiceAccount and roles referenced exist, the
  tetherd flags passed are flags controlplane/main.cc defines, the state dir
  is the PVC mount, and the container is non-root with a read-only root.
- tether-injector (injector-*.yaml): the webhook's settings (failurePolicy
  Fail, sideEffects None, timeout <= 5 s, reinvocation, the opt-in
  objectSelector, kube-system and tether-system excluded, /mutate on its
  Service), two replicas kept apart with a PDB, restricted security context,
  no API token, the TLS Secret mounted read-only as a directory.
- `kubectl kustomize deploy/`, and with the cert-manager component, is
  rendered (when kubectl is installed) and checked again: the rendered
  objects validate and the webhook, Certificate and Secret names agree.
- RBAC is pinned: the exact rule set is listed below, so widening it is a
  deliberate edit here as well.
- Dockerfiles: FROM only debian:bookworm-slim, apt-get install only of
  known Debian bookworm packages (the lists below), with --no-install-recommends and the lists removed in the same
  RUN; COPY --from names an earlier stage; COPY sources and scripts exist in
  the repository; Bazel targets built exist; the final stage sets a
  non-root USER.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "kube"))
import validate_manifests  # noqa: E402

MANIFESTS = sorted(f for f in os.listdir(HERE)
                   if f.endswith(".yaml") and f != "kustomization.yaml")

# Debian bookworm packages the images may install, each checked with
# `apt-cache policy` on bookworm (tests cannot use the network). Build stages:
# tools/setup's list (kept in step by hand: tools/setup is not a Bazel
# target) plus patchelf; runtime stages: the libraries tetherd links (ldd).
BUILD_PACKAGES = {
    "bazel-bootstrap", "bazel-platforms", "g++", "pkg-config",
    "libgrpc++-dev", "protobuf-compiler-grpc", "libprotobuf-dev",
    "protobuf-compiler", "libabsl-dev", "librsync-dev", "libyaml-cpp-dev",
    "libssl-dev", "libgtest-dev", "libgmock-dev", "nlohmann-json3-dev",
    "libcurl4-openssl-dev", "libcivetweb-dev", "prometheus-cpp-dev",
    "patchelf",
}
RUNTIME_PACKAGES = {
    "ca-certificates", "libabsl20220623", "libgrpc++1.51", "libprotobuf32",
    "librsync2", "libssl3", "libyaml-cpp0.7", "libcurl4", "libcivetweb1",
    "libprometheus-cpp-core1.0", "libatomic1",
}

# What tetherd's Kubernetes backend uses (kube/render.h); see rbac.yaml.
EXPECTED_RULES = {
    ("apps", "deployments"): {"list", "watch", "create", "patch", "delete"},
    ("apps", "statefulsets"): {"list", "create", "patch", "delete"},
    ("", "services"): {"list", "create", "patch", "delete"},
    ("autoscaling", "horizontalpodautoscalers"): {"list", "create", "patch",
                                                  "delete"},
    ("policy", "poddisruptionbudgets"): {"list", "create", "patch", "delete"},
    ("", "secrets"): {"create", "patch", "delete"},
    ("", "pods"): {"list", "watch"},
    ("", "pods/log"): {"get"},
    ("", "podtemplates"): {"get"},
    ("", "events"): {"list", "watch", "create", "patch"},
}

# tether-injector's only grant (injector-rbac.yaml): the Events it records.
INJECTOR_RULES = {("", "events"): {"create", "patch"}}


# Namespaces the injector must never be called for.
NOT_INJECTED = {"kube-system", "tether-system"}

KUSTOMIZE_FIELDS = {"apiVersion", "kind", "namespace", "resources", "labels",
                    "images", "commonLabels", "commonAnnotations"}


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys."""


def _no_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def load_all(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return [d for d in yaml.load_all(f, Loader=StrictLoader)
                if d is not None]


def objects():
    """(file, object) for every document of every manifest."""
    return [(name, obj) for name in MANIFESTS for obj in load_all(name)]


def find(kind, name=None):
    found = [o for _, o in objects() if o.get("kind") == kind and
             (name is None or o["metadata"]["name"] == name)]
    assert found, f"no {kind} {name or ''}"
    return found


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


class ManifestTest(unittest.TestCase):

    def test_every_object_matches_the_client_model(self):
        self.assertTrue(MANIFESTS)
        for name, obj in objects():
            with self.subTest(file=name, kind=obj.get("kind")):
                self.assertEqual(validate_manifests.validate(obj), [])

    def test_the_script_entry_point_accepts_them(self):
        # Same check through validate_manifests.py's CLI on JSON files, as
        # render_test runs it.
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for i, (_, obj) in enumerate(objects()):
                paths.append(os.path.join(tmp, f"{i}.json"))
                with open(paths[-1], "w", encoding="utf-8") as f:
                    json.dump(obj, f)
            self.assertEqual(validate_manifests.main(["x"] + paths), 0)

    def test_validator_rejects_unknown_fields_and_wrong_types(self):
        deployment = find("Deployment", "tetherd")[0]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        bad = json.loads(json.dumps(deployment))
        bad["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
        self.assertIn("unknown field", "".join(validate_manifests.validate(bad)))
        bad = json.loads(json.dumps(deployment))
        bad["spec"]["replicas"] = "1"
        self.assertIn("expected an int",
                      "".join(validate_manifests.validate(bad)))
        bad = json.loads(json.dumps(deployment))
        bad["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] = {
            "grpc": {"port": 7700}}  # newer than the client model
        self.assertIn("unknown field", "".join(validate_manifests.validate(bad)))
        self.assertEqual(container["name"], "tetherd")
        role = json.loads(json.dumps(find("ClusterRole", "tetherd")[0]))
        role["rules"][0]["verbs"] = "get"
        self.assertIn("expected a list",
                      "".join(validate_manifests.validate(role)))

    def test_duplicate_yaml_keys_are_rejected(self):
        with self.assertRaises(yaml.constructor.ConstructorError):
            yaml.load("a: 1\na: 2\n", Loader=StrictLoader)

    def test_kustomization(self):
        docs = load_all("kustomization.yaml")
        self.assertEqual(len(docs), 1)
        k = docs[0]
        self.assertEqual(k.get("kind"), "Kustomization")
        self.assertEqual(k.get("apiVersion"),
                         "kustomize.config.k8s.io/v1beta1")
        self.assertLessEqual(set(k), KUSTOMIZE_FIELDS)
        self.assertEqual(k["namespace"], "tether-system")
        self.assertEqual(sorted(k["resources"]), MANIFESTS)
        for entry in k.get("labels", []):
            self.assertLessEqual(set(entry), {"pairs", "includeSelectors",
                                              "includeTemplates"})
            for key in entry["pairs"]:
                self.assertTrue(key.startswith("app.kubernetes.io/"), key)
        images = {o["spec"]["template"]["spec"]["containers"][0]["image"]
                  for _, o in objects() if o["kind"] == "Deployment"}
        for image in k.get("images", []):
            self.assertLessEqual(set(image), {"name", "newName", "newTag",
                                              "digest"})
            self.assertIn(image["name"], images)
            self.assertIsInstance(image.get("newTag", ""), str)

    def test_namespaced_objects_are_in_tether_system(self):
        for name, obj in objects():
            if obj["kind"] in ("Namespace", "ClusterRole",
                               "ClusterRoleBinding",
                               "MutatingWebhookConfiguration"):
                self.assertNotIn("namespace", obj["metadata"], name)
            else:
                self.assertEqual(obj["metadata"].get("namespace"),
                                 "tether-system", name)
        self.assertEqual(find("Namespace")[0]["metadata"]["name"],
                         "tether-system")

    def test_tetherd_deployment(self):
        d = find("Deployment", "tetherd")[0]
        spec, pod = d["spec"], d["spec"]["template"]["spec"]
        self.assertEqual(spec["replicas"], 1)
        self.assertEqual(spec["strategy"]["type"], "Recreate")
        labels = spec["template"]["metadata"]["labels"]
        self.assertLessEqual(spec["selector"]["matchLabels"].items(),
                             labels.items())
        find("ServiceAccount", pod["serviceAccountName"])
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertNotEqual(pod["securityContext"]["runAsUser"], 0)
        (c,) = pod["containers"]
        assert_restricted(self, pod)
        # Flags: only ones tetherd defines.
        defined = set(re.findall(r"ABSL_FLAG\(\s*[\w:]+\s*,\s*(\w+)",
                                 read("controlplane/main.cc")))
        flags = dict(a[2:].split("=", 1) for a in c["args"])
        self.assertLessEqual(set(flags), defined)
        self.assertEqual(flags["backend"], "kubernetes")
        port = int(flags["listen"].rsplit(":", 1)[1])
        http_port = int(flags["http_listen"].rsplit(":", 1)[1])
        self.assertEqual({p["name"]: p["containerPort"] for p in c["ports"]},
                         {"grpc": port, "http": http_port})
        # Probes hit tetherd's HTTP routes on the http port; state dir is
        # the PVC mount.
        self.assertEqual(
            {probe: (c[probe]["httpGet"]["port"], c[probe]["httpGet"]["path"])
             for probe in ("startupProbe", "livenessProbe", "readinessProbe")},
            {"startupProbe": ("http", "/healthz"),
             "livenessProbe": ("http", "/healthz"),
             "readinessProbe": ("http", "/readyz")})
        # Prometheus scrapes the same port.
        annotations = spec["template"]["metadata"]["annotations"]
        self.assertEqual(annotations["prometheus.io/scrape"], "true")
        self.assertEqual(int(annotations["prometheus.io/port"]), http_port)
        self.assertEqual(annotations["prometheus.io/path"], "/metrics")
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        state = volumes[mounts[flags["state_dir"]]]
        find("PersistentVolumeClaim",
             state["persistentVolumeClaim"]["claimName"])
        for m in c["volumeMounts"]:
            self.assertIn(m["name"], volumes)

    def test_pvc_is_read_write_once(self):
        pvc = find("PersistentVolumeClaim", "tetherd-state")[0]
        self.assertEqual(pvc["spec"]["accessModes"], ["ReadWriteOnce"])

    def test_service_reaches_the_pod(self):
        svc = find("Service", "tetherd")[0]
        pod = find("Deployment", "tetherd")[0]["spec"]["template"]
        self.assertEqual(svc["spec"]["type"], "ClusterIP")
        self.assertLessEqual(svc["spec"]["selector"].items(),
                             pod["metadata"]["labels"].items())
        (port,) = svc["spec"]["ports"]
        self.assertEqual((port["name"], port["port"]), ("grpc", 7700))
        names = {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
        self.assertIn(port["targetPort"], names)

    def test_rbac_is_exactly_what_tetherd_uses(self):
        for _, role in objects():
            if role["kind"] == "Role":
                self.fail("no Role: tetherd's rules are one ClusterRole")
        self.assertEqual(role_rules(self, find("ClusterRole", "tetherd")[0]),
                         EXPECTED_RULES)
        for _, b in objects():
            if b["kind"] == "ClusterRoleBinding":
                self.assertNotEqual(b["roleRef"]["name"], "tetherd",
                                    "tetherd gets no cluster-wide grant")
            if b["kind"] != "RoleBinding":
                continue
            find(b["roleRef"]["kind"], b["roleRef"]["name"])
            for s in b["subjects"]:
                self.assertEqual(s["kind"], "ServiceAccount")
                find("ServiceAccount", s["name"])
                self.assertEqual(s["namespace"], b["metadata"]["namespace"])


def role_rules(test, role):
    """{(apiGroup, resource): verbs} of `role`, with no wildcards."""
    rules = {}
    for rule in role["rules"]:
        test.assertNotIn("*", rule["verbs"])
        test.assertNotIn("resourceNames", rule)
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                test.assertNotIn("*", resource)
                rules.setdefault((group, resource), set()).update(
                    rule["verbs"])
    return rules


def assert_restricted(test, pod):
    """Pod Security "restricted", read-only root, requests and a memory
    limit, for a pod spec with one container."""
    test.assertTrue(pod["securityContext"]["runAsNonRoot"])
    test.assertNotEqual(pod["securityContext"]["runAsUser"], 0)
    test.assertEqual(pod["securityContext"]["seccompProfile"]["type"],
                     "RuntimeDefault")
    (c,) = pod["containers"]
    test.assertTrue(c["securityContext"]["readOnlyRootFilesystem"])
    test.assertFalse(c["securityContext"]["allowPrivilegeEscalation"])
    test.assertEqual(c["securityContext"]["capabilities"]["drop"], ["ALL"])
    test.assertNotIn("add", c["securityContext"]["capabilities"])
    test.assertIn("requests", c["resources"])
    test.assertIn("memory", c["resources"]["limits"])


def check_webhook(test, webhook_config, service):
    """The injector's MutatingWebhookConfiguration calls `service`."""
    (hook,) = webhook_config["webhooks"]
    test.assertEqual(hook["failurePolicy"], "Fail")
    test.assertEqual(hook["sideEffects"], "None")
    test.assertLessEqual(hook["timeoutSeconds"], 5)
    test.assertEqual(hook["reinvocationPolicy"], "IfNeeded")
    test.assertEqual(hook["admissionReviewVersions"], ["v1"])
    test.assertEqual(hook["rules"], [{
        "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
        "resources": ["pods"], "scope": "Namespaced"}])
    test.assertEqual(hook["objectSelector"],
                     {"matchLabels": {"tether.dev/inject": "true"}})
    # Excludes kube-system and Tether's own namespace by name; nothing else
    # narrows it.
    (expr,) = hook["namespaceSelector"]["matchExpressions"]
    test.assertNotIn("matchLabels", hook["namespaceSelector"])
    test.assertEqual((expr["key"], expr["operator"]),
                     ("kubernetes.io/metadata.name", "NotIn"))
    test.assertEqual(set(expr["values"]), NOT_INJECTED)
    test.assertIn(service["metadata"]["namespace"], expr["values"])
    target = hook["clientConfig"]["service"]
    test.assertNotIn("url", hook["clientConfig"])
    test.assertEqual(target["path"], "/mutate")
    test.assertEqual(target["name"], service["metadata"]["name"])
    test.assertEqual(target["namespace"], service["metadata"]["namespace"])
    test.assertIn(target.get("port", 443),
                  [p["port"] for p in service["spec"]["ports"]])


class InjectorTest(unittest.TestCase):
    """tether-injector's objects (injector-*.yaml)."""

    def setUp(self):
        self.deployment = find("Deployment", "tether-injector")[0]
        self.pod = self.deployment["spec"]["template"]
        (self.container,) = self.pod["spec"]["containers"]
        self.flags = dict(a[2:].split("=", 1)
                          for a in self.container["args"])

    def test_webhook_configuration(self):
        check_webhook(self, find("MutatingWebhookConfiguration",
                                 "tether-injector")[0],
                      find("Service", "tether-injector")[0])

    def test_ca_bundle_is_left_to_the_install(self):
        # openssl (README) or cert-manager's cainjector sets it.
        (hook,) = find("MutatingWebhookConfiguration")[0]["webhooks"]
        self.assertNotIn("caBundle", hook["clientConfig"])

    def test_two_replicas_apart_and_a_disruption_budget(self):
        spec = self.deployment["spec"]
        labels = self.pod["metadata"]["labels"]
        self.assertEqual(spec["replicas"], 2)
        self.assertEqual(spec["strategy"]["rollingUpdate"]["maxUnavailable"],
                         0)
        self.assertLessEqual(spec["selector"]["matchLabels"].items(),
                             labels.items())
        (term,) = self.pod["spec"]["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"]
        term = term["podAffinityTerm"]
        self.assertEqual(term["topologyKey"], "kubernetes.io/hostname")
        self.assertLessEqual(term["labelSelector"]["matchLabels"].items(),
                             labels.items())
        pdb = find("PodDisruptionBudget", "tether-injector")[0]
        self.assertEqual(pdb["spec"]["minAvailable"], 1)
        self.assertLess(pdb["spec"]["minAvailable"], spec["replicas"])
        self.assertLessEqual(pdb["spec"]["selector"]["matchLabels"].items(),
                             labels.items())

    def test_restricted_and_only_allowed_events(self):
        pod = self.pod["spec"]
        assert_restricted(self, pod)
        account = find("ServiceAccount", pod["serviceAccountName"])[0]
        self.assertIs(pod["automountServiceAccountToken"], True)
        self.assertIsNot(account.get("automountServiceAccountToken"), False)
        grants = [b for _, b in objects()
                  if b["kind"] in ("RoleBinding", "ClusterRoleBinding")
                  and pod["serviceAccountName"]
                  in [s["name"] for s in b["subjects"]]]
        # Events go into every namespace it admits pods in.
        (binding,) = grants
        self.assertEqual(binding["kind"], "ClusterRoleBinding")
        self.assertEqual(binding["subjects"], [{
            "kind": "ServiceAccount", "name": "tether-injector",
            "namespace": "tether-system"}])
        role = find(binding["roleRef"]["kind"], binding["roleRef"]["name"])[0]
        self.assertEqual(role_rules(self, role), INJECTOR_RULES)
        # Its reportingInstance.
        (env,) = self.container["env"]
        self.assertEqual(env["name"], "POD_NAME")
        self.assertEqual(env["valueFrom"]["fieldRef"]["fieldPath"],
                         "metadata.name")

    def test_flags_tls_and_probes(self):
        # Flags: only ones tether-injector defines.
        defined = set(re.findall(r"ABSL_FLAG\(\s*[\w:]+\s*,\s*(\w+)",
                                 read("sidecar/injector_main.cc")))
        self.assertLessEqual(set(self.flags), defined)
        port = int(self.flags["listen"].rsplit(":", 1)[1])
        http_port = int(self.flags["http_listen"].rsplit(":", 1)[1])
        self.assertEqual({p["name"]: p["containerPort"]
                          for p in self.container["ports"]},
                         {"https": port, "http": http_port})
        # Probes on the plain-HTTP port (the webhook's HTTPS port serves
        # only /mutate).
        self.assertEqual(
            {probe: (self.container[probe]["httpGet"]["port"],
                     self.container[probe]["httpGet"]["path"],
                     self.container[probe]["httpGet"].get("scheme", "HTTP"))
             for probe in ("livenessProbe", "readinessProbe")},
            {"livenessProbe": ("http", "/healthz", "HTTP"),
             "readinessProbe": ("http", "/readyz", "HTTP")})
        # Both files from one Secret mounted read-only as a directory
        # (subPath mounts are never updated, so a reload would see nothing).
        volumes = {v["name"]: v for v in self.pod["spec"]["volumes"]}
        (mount,) = self.container["volumeMounts"]
        self.assertTrue(mount["readOnly"])
        self.assertNotIn("subPath", mount)
        for flag, key in (("tls_cert_file", "tls.crt"),
                          ("tls_key_file", "tls.key")):
            self.assertEqual(self.flags[flag], f"{mount['mountPath']}/{key}")
        self.assertEqual(volumes[mount["name"]]["secret"]["secretName"],
                         "tether-injector-tls")
        # Agents dial tetherd's Service; the same agent image as tetherd's.
        tetherd = find("Deployment", "tetherd")[0]["spec"]["template"]
        tetherd_flags = dict(a[2:].split("=", 1) for a in
                             tetherd["spec"]["containers"][0]["args"])
        self.assertEqual(self.flags["tetherd_address"],
                         tetherd_flags["advertise_address"])
        self.assertEqual(self.flags["agent_image"],
                         tetherd_flags["agent_image"])

    def test_service_targets_the_container_port(self):
        svc = find("Service", "tether-injector")[0]
        self.assertEqual(svc["spec"]["type"], "ClusterIP")
        self.assertLessEqual(svc["spec"]["selector"].items(),
                             self.pod["metadata"]["labels"].items())
        (port,) = svc["spec"]["ports"]
        self.assertEqual(port["port"], 443)
        ports = {p["name"]: p["containerPort"]
                 for p in self.container["ports"]}
        self.assertEqual(ports[port["targetPort"]], 8443)
        self.assertEqual(self.flags["listen"], "0.0.0.0:8443")


def find_kubectl():
    """kubectl on PATH or in the usual places (common/test_util's
    FindKubectl), or None."""
    found = shutil.which("kubectl")
    for candidate in ([found] if found else []) + ["/usr/local/bin/kubectl",
                                                   "/usr/bin/kubectl"]:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


class KustomizeTest(unittest.TestCase):
    """`kubectl kustomize deploy/`, and with the cert-manager component,
    rendered for real (kubectl's kustomize; no cluster, no CRDs)."""

    @classmethod
    def setUpClass(cls):
        cls.kubectl = find_kubectl()
        if not cls.kubectl:
            raise unittest.SkipTest("no kubectl (tools/setup installs it)")
        # A copy: in the runfiles tree the files are symlinks out of
        # deploy/, which kustomize's load restrictor refuses.
        cls.tmp = tempfile.mkdtemp()
        shutil.copytree(HERE, os.path.join(cls.tmp, "deploy"),
                        ignore=shutil.ignore_patterns("*.py", "*.sh",
                                                      "*Dockerfile*",
                                                      "BUILD*"))
        overlay = os.path.join(cls.tmp, "overlay")
        os.mkdir(overlay)
        with open(os.path.join(overlay, "kustomization.yaml"), "w",
                  encoding="utf-8") as f:
            f.write("resources: [../deploy]\n"
                    "components: [../deploy/cert-manager]\n")
        tls = os.path.join(cls.tmp, "tls-overlay")
        os.mkdir(tls)
        with open(os.path.join(tls, "kustomization.yaml"), "w",
                  encoding="utf-8") as f:
            f.write("resources: [../deploy]\n"
                    "components: [../deploy/tls]\n")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def render(self, directory):
        out = subprocess.run([self.kubectl, "kustomize",
                              os.path.join(self.tmp, directory)],
                             capture_output=True, text=True, check=False)
        self.assertEqual(out.returncode, 0, out.stderr)
        return [d for d in yaml.safe_load_all(out.stdout) if d]

    def test_deploy_renders_and_validates(self):
        rendered = self.render("deploy")
        by_kind = {}
        for obj in rendered:
            with self.subTest(kind=obj["kind"], name=obj["metadata"]["name"]):
                self.assertEqual(validate_manifests.validate(obj), [])
            by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
        self.assertEqual(len(rendered), len(objects()))
        # The namespace transformer and labels leave the webhook's settings
        # and the selectors alone.
        check_webhook(self,
                      by_kind["MutatingWebhookConfiguration"]["tether-injector"],
                      by_kind["Service"]["tether-injector"])
        pod = by_kind["Deployment"]["tether-injector"]["spec"]["template"]
        self.assertEqual(pod["spec"]["containers"][0]["image"],
                         "registry.example.com/tether/tether-injector:0.1.0")

    def test_tls_component(self):
        rendered = self.render("tls-overlay")
        by_kind = {}
        for obj in rendered:
            by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
            if obj["apiVersion"] != "cert-manager.io/v1":
                with self.subTest(kind=obj["kind"],
                                  name=obj["metadata"]["name"]):
                    self.assertEqual(validate_manifests.validate(obj), [])
        certs = by_kind["Certificate"]
        self.assertEqual(certs["tether-agent-tls"]["spec"]["dnsNames"],
                         ["tether-agent"])
        self.assertIn("tetherd.tether-system.svc",
                      certs["tetherd-tls"]["spec"]["dnsNames"])
        for name in ("tetherd-tls", "tether-agent-tls"):
            self.assertEqual(certs[name]["spec"]["issuerRef"]["name"],
                             "tether-ca")
        pod = by_kind["Deployment"]["tetherd"]["spec"]["template"]["spec"]
        args = pod["containers"][0]["args"]
        for flag in ("--tls_cert_file=/etc/tether/tls/tls.crt",
                     "--tls_key_file=/etc/tether/tls/tls.key",
                     "--tls_ca_file=/etc/tether/tls/ca.crt",
                     "--agent_tls_secret=tether-agent-tls"):
            self.assertIn(flag, args)
        mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
        self.assertEqual(mounts["tls"]["mountPath"], "/etc/tether/tls")
        volumes = {v["name"]: v for v in pod["volumes"]}
        self.assertEqual(volumes["tls"]["secret"]["secretName"], "tetherd-tls")
        injector = by_kind["Deployment"]["tether-injector"]["spec"]["template"]
        self.assertIn("--agent_tls_secret=tether-agent-tls",
                      injector["spec"]["containers"][0]["args"])

    def test_cert_manager_component(self):
        rendered = self.render("overlay")
        certs = {o["metadata"]["name"]: o for o in rendered
                 if o["kind"] == "Certificate"}
        issuers = {o["metadata"]["name"]: o for o in rendered
                   if o["kind"] == "Issuer"}
        for obj in list(certs.values()) + list(issuers.values()):
            self.assertEqual(obj["apiVersion"], "cert-manager.io/v1")
            self.assertEqual(obj["metadata"]["namespace"], "tether-system")
        (hooks,) = [o for o in rendered
                    if o["kind"] == "MutatingWebhookConfiguration"]
        ns, name = hooks["metadata"]["annotations"][
            "cert-manager.io/inject-ca-from"].split("/")
        self.assertEqual(ns, "tether-system")
        serving = certs[name]
        # Its Secret is the one the injector mounts; its names are the
        # Service's.
        self.assertEqual(serving["spec"]["secretName"], "tether-injector-tls")
        self.assertEqual(set(serving["spec"]["dnsNames"]), {
            "tether-injector.tether-system.svc",
            "tether-injector.tether-system.svc.cluster.local"})
        self.assertIn("server auth", serving["spec"]["usages"])
        # Signed by a CA Issuer whose CA is a self-signed Certificate.
        ca_issuer = issuers[serving["spec"]["issuerRef"]["name"]]
        ca = [c for c in certs.values()
              if c["spec"]["secretName"] == ca_issuer["spec"]["ca"][
                  "secretName"]][0]
        self.assertTrue(ca["spec"]["isCA"])
        self.assertIn("selfSigned",
                      issuers[ca["spec"]["issuerRef"]["name"]]["spec"])
        # Everything else is deploy/ unchanged.
        self.assertEqual(len(rendered) - len(certs) - len(issuers),
                         len(objects()))


def dockerfile_stages(name):
    """[(from_line_words, [(instruction, args)])] with continuations joined."""
    text = read(f"deploy/{name}").replace("\\\n", " ")
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stages.append((args.split(), []))
        else:
            assert stages, f"{name}: {instruction} before FROM"
            stages[-1][1].append((instruction, args.strip()))
    return stages


def bazel_targets():
    """Labels defined by the BUILD files the images build from."""
    labels = set()
    for package in ("controlplane", "agent", "sidecar"):
        build = read(f"{package}/BUILD.bazel")
        for name in re.findall(r'name = "([^"]+)"', build):
            labels.add(f"//{package}:{name}")
        # Labels these packages depend on exist, or they would not build
        # (//agent/native's BUILD file is not visible to this test).
        labels.update(re.findall(r'"(//[\w/]+:[\w.-]+)"', build))
    return labels


class DockerfileTest(unittest.TestCase):
    FILES = ("tetherd.Dockerfile", "agent.Dockerfile", "injector.Dockerfile")

    def test_static_checks(self):
        known = BUILD_PACKAGES | RUNTIME_PACKAGES
        targets = bazel_targets()
        for name in self.FILES:
            with self.subTest(dockerfile=name):
                self._check(name, known, targets)

    def _check(self, name, known, targets):
        stages = dockerfile_stages(name)
        self.assertGreaterEqual(len(stages), 2, "multi-stage build")
        seen = []
        for words, instructions in stages:
            self.assertEqual(words[0], "debian:bookworm-slim")
            if len(words) > 1:
                self.assertEqual(words[1].upper(), "AS")
                seen.append(words[2])
            for instruction, args in instructions:
                self.assertNotEqual(instruction, "ADD", "use COPY")
                if instruction == "RUN":
                    self._check_run(args, known, targets)
                elif instruction == "COPY":
                    parts = args.split()
                    flags = [p for p in parts if p.startswith("--")]
                    paths = [p for p in parts if not p.startswith("--")]
                    self.assertGreaterEqual(len(paths), 2)
                    if flags:
                        (flag,) = flags
                        self.assertTrue(flag.startswith("--from="))
                        self.assertIn(flag[len("--from="):], seen)
                    else:
                        for src in paths[:-1]:
                            self.assertTrue(
                                os.path.exists(os.path.join(ROOT, src)), src)
        final = stages[-1][1]
        users = [a for i, a in final if i == "USER"]
        self.assertTrue(users, "final stage sets USER")
        self.assertNotIn(users[-1].split(":")[0], ("0", "root"))
        for instruction, args in final:
            if instruction in ("ENTRYPOINT", "CMD"):
                self.assertIsInstance(json.loads(args), list, "exec form")

    def _check_run(self, args, known, targets):
        words = shlex.split(args)
        commands, current = [], []
        for w in words:
            if w in ("&&", "||", ";", "|"):
                commands.append(current)
                current = []
            else:
                current.append(w)
        commands.append(current)
        if any(c[:2] == ["apt-get", "update"] for c in commands):
            self.assertIn(["rm", "-rf", "/var/lib/apt/lists/*"], commands)
        for c in commands:
            while c and "=" in c[0] and not c[0].startswith("-"):
                c = c[1:]  # VAR=value prefix
            if c[:2] == ["apt-get", "install"]:
                self.assertIn("--no-install-recommends", c)
                packages = [w for w in c[2:] if not w.startswith("-")]
                self.assertTrue(packages)
                for p in packages:
                    self.assertIn(p, known, f"unknown package {p}")
            if c[:1] == ["bazel"]:
                for label in (w for w in c if w.startswith("//")):
                    self.assertIn(label, targets)
            for w in c:
                if w.startswith("deploy/"):
                    self.assertTrue(os.path.exists(os.path.join(ROOT, w)), w)
            if c[:1] == ["install"] or c[:1] and c[0].startswith("deploy/"):
                for w in c:
                    if re.match(r"^(agent|controlplane|sidecar)/.*\.\w+$", w):
                        # A source file: here, or a label a BUILD file
                        # depends on (not all are visible to this test).
                        label = f"//{os.path.dirname(w)}:{os.path.basename(w)}"
                        self.assertTrue(
                            os.path.exists(os.path.join(ROOT, w)) or
                            label in targets, w)

    def test_bundle_layout_matches_the_renderer(self):
        # The renderer and the injector (kube/pod_mutation.h) run
        # <mount>/bin/tether-agent with the bundle mounted at kAgentDir and
        # copy agent_source_dir out of the agent image; the injector's
        # sidecar runs the same path in the agent image itself.
        mutation = read("kube/pod_mutation.h")
        mount = re.search(r'kAgentDir\[\] = "([^"]+)"', mutation).group(1)
        self.assertIn(f'kAgentBinary[] = "{mount}/bin/tether-agent"', mutation)
        source = re.search(r'agent_source_dir = "([^"]+)"', mutation).group(1)
        self.assertIn(f'agent_source_dir = "{source}"', read("kube/render.h"))
        bundle = read("deploy/bundle_agent.sh")
        self.assertIn(f"TETHER_AGENT_MOUNT:-{mount}}}", bundle)
        self.assertIn("$out/bin/tether-agent", bundle)
        agent = read("deploy/agent.Dockerfile")
        self.assertIn(f"COPY --from=build /out/tether {source}", agent)
        self.assertIn(f"ln -s {source} {mount}", agent)


if __name__ == "__main__":
    unittest.main()
