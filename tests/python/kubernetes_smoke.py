"""The official Python `kubernetes` client against a fresh `skiff up` (skiff issue #10).

Usage: python kubernetes_smoke.py KUBECONFIG

Lists, creates, reads, patches, watches (with `timeout_seconds`) and deletes pods and
ConfigMaps in `default`, checking exact values. Prints one line per step; the first failed
check prints `FAIL: ...` and exits 1.
"""

import sys
import threading
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

NS = "default"


def check(ok, what):
    if not ok:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)


def step(text):
    print(text, flush=True)


def expect_api_error(call, status, reason, message):
    try:
        call()
    except ApiException as e:
        body = __import__("json").loads(e.body)
        check(e.status == status, f"status {e.status} != {status}")
        check(body["kind"] == "Status", f"body kind {body!r}")
        check(body["reason"] == reason, f"reason {body['reason']!r} != {reason!r}")
        check(body["message"] == message, f"message {body['message']!r} != {message!r}")
        check(body["code"] == status, f"code {body['code']!r}")
        return
    check(False, f"expected ApiException {status} {reason}")


def pod(name, app):
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": app}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="nginx:1.27")]),
    )


def main(kubeconfig):
    config.load_kube_config(config_file=kubeconfig)
    v1 = client.CoreV1Api()

    pods = v1.list_namespaced_pod(NS)
    check(pods.items == [], f"a fresh cluster has no pods in default: {pods.items!r}")
    start_rv = pods.metadata.resource_version
    check(start_rv not in (None, ""), "the list carries a resourceVersion")
    step("list pods: none")

    created = v1.create_namespaced_pod(NS, pod("py-web", "py"))
    check(created.metadata.name == "py-web", f"name {created.metadata.name!r}")
    check(created.metadata.namespace == NS, f"namespace {created.metadata.namespace!r}")
    check(created.kind == "Pod" and created.api_version == "v1", f"{created.kind} {created.api_version}")
    check(bool(created.metadata.uid), "uid set")
    check(created.metadata.creation_timestamp is not None, "creationTimestamp set")
    v1.create_namespaced_pod(NS, pod("py-db", "db"))
    step("create pods: py-web, py-db")

    expect_api_error(
        lambda: v1.create_namespaced_pod(NS, pod("py-web", "py")),
        409, "AlreadyExists", 'pods "py-web" already exists',
    )
    expect_api_error(
        lambda: v1.read_namespaced_pod("nope", NS),
        404, "NotFound", 'pods "nope" not found',
    )
    step("errors: 409 AlreadyExists, 404 NotFound")

    read = v1.read_namespaced_pod("py-web", NS)
    check(read.metadata.uid == created.metadata.uid, "read returns the created pod")
    check(read.spec.containers[0].image == "nginx:1.27", f"image {read.spec.containers[0].image!r}")
    labelled = v1.list_namespaced_pod(NS, label_selector="app=py")
    names = [p.metadata.name for p in labelled.items]
    check(names == ["py-web"], f"label selector app=py: {names!r}")
    everything = sorted(p.metadata.name for p in v1.list_namespaced_pod(NS).items)
    check(everything == ["py-db", "py-web"], f"all pods: {everything!r}")
    step("read and list by label: py-web")

    cm = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="py-settings", labels={"app": "py"}),
        data={"greeting": "hello"},
    )
    made = v1.create_namespaced_config_map(NS, cm)
    check(made.data == {"greeting": "hello"}, f"data {made.data!r}")
    patched = v1.patch_namespaced_config_map("py-settings", NS, {"data": {"name": "skiff"}})
    check(patched.data == {"greeting": "hello", "name": "skiff"}, f"patched data {patched.data!r}")
    check(
        int(patched.metadata.resource_version) > int(made.metadata.resource_version),
        "a patch moves the resourceVersion",
    )
    step("create and patch configmap: py-settings")

    # A watch from the first list's resourceVersion replays what happened since, in order.
    # The scheduler may have written py-web's PodScheduled condition (no node fits) before
    # py-db was created: a MODIFIED of a pod already ADDED may come between the two.
    w = watch.Watch()
    seen = []
    for event in w.stream(v1.list_namespaced_pod, NS, resource_version=start_rv, timeout_seconds=10):
        seen.append((event["type"], event["object"].metadata.name))
        check(isinstance(event["object"], client.V1Pod), f"decoded as V1Pod: {event['object']!r}")
        if seen[-1] == ("ADDED", "py-db"):
            w.stop()
    added = [name for kind, name in seen if kind == "ADDED"]
    check(added == ["py-web", "py-db"], f"pod watch: {seen!r}")
    for i, (kind, name) in enumerate(seen):
        check(
            kind == "ADDED" or (kind == "MODIFIED" and ("ADDED", name) in seen[:i]),
            f"pod watch: {seen!r}",
        )
    step("watch pods from the list: ADDED py-web, ADDED py-db")

    # A live watch with a label selector sees a ConfigMap created while it runs, then a delete.
    cm_rv = v1.list_namespaced_config_map(NS).metadata.resource_version
    live = []

    def watch_configmaps():
        w = watch.Watch()
        for event in w.stream(
            v1.list_namespaced_config_map, NS, label_selector="app=py",
            resource_version=cm_rv, timeout_seconds=15,
        ):
            obj = event["object"]
            live.append((event["type"], obj.metadata.name, dict(obj.data or {})))
            if event["type"] == "DELETED":
                w.stop()

    watcher = threading.Thread(target=watch_configmaps)
    watcher.start()
    time.sleep(0.5)
    later = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="py-later", labels={"app": "py"}), data={"n": "1"}
    )
    v1.create_namespaced_config_map(NS, later)
    v1.create_namespaced_config_map(
        NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-unlabelled"), data={})
    )
    v1.delete_namespaced_config_map("py-later", NS)
    watcher.join(20)
    check(not watcher.is_alive(), "the live watch ended")
    check(
        live == [("ADDED", "py-later", {"n": "1"}), ("DELETED", "py-later", {"n": "1"})],
        f"live configmap watch: {live!r}",
    )
    step("live watch of configmaps app=py: ADDED py-later, DELETED py-later")

    # timeout_seconds ends a quiet watch from the server side.
    began = time.monotonic()
    quiet = list(watch.Watch().stream(
        v1.list_namespaced_pod, NS, label_selector="app=none",
        resource_version=v1.list_namespaced_pod(NS).metadata.resource_version, timeout_seconds=2,
    ))
    elapsed = time.monotonic() - began
    check(quiet == [], f"quiet watch: {quiet!r}")
    check(1.5 <= elapsed < 10, f"a 2 s watch lasted {elapsed:.2f} s")
    step("quiet watch with timeout_seconds=2: ends with no events")

    v1.delete_namespaced_pod("py-web", NS, grace_period_seconds=0)
    expect_api_error(
        lambda: v1.read_namespaced_pod("py-web", NS),
        404, "NotFound", 'pods "py-web" not found',
    )
    step("delete pod: py-web gone")

    # A ConfigMap gone at once is answered with a success Status, as upstream does.
    # (kubernetes 37 hands a delete's answer back as a dict.)
    status = v1.delete_namespaced_config_map("py-settings", NS)
    expected = {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": "py-settings", "kind": "configmaps", "uid": made.metadata.uid},
    }
    check(status == expected, f"delete answer {status!r}")
    step("delete configmap: Status Success")
    step("ok")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
