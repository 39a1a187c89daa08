"""Schemathesis hooks for Warren's API fuzz (Tests/IntegrationTests/APIFuzzTests.swift).

They keep generated requests inside the test's own world, and nothing else:
- host paths (a rootfs, mount sources, import and export paths) are confined to
  WARREN_FUZZ_DIR, so a generated sandbox binds nothing of the host's (a rootfs drawn
  half the time is the test's busybox, so sandboxes get created and then driven);
- pulls go to the test's local registry (WARREN_FUZZ_REGISTRY), not to the internet;
- sandboxes use the native driver (the Docker driver would ask Docker to pull random
  images from the internet, which this machine cannot reach);
- `follow` is dropped: a followed event stream has no end by design;
- half the sandbox and image references name ones that exist (WARREN_FUZZ_SANDBOX,
  WARREN_FUZZ_IMAGE), so the operations on them are reached, not only their 404s; an
  attach gets a fresh sandbox running cat, which ends once the attach's input does
  (an attach lasts as long as its sandbox runs, by design).
Every other field, header and parameter is as schemathesis draws it. NDJSON request
bodies are one JSON value per line; NDJSON answers are read line by line.
"""
import json
import os
import re
import urllib.request

import schemathesis

FUZZ_DIR = os.environ["WARREN_FUZZ_DIR"]
ROOTFS = os.environ["WARREN_FUZZ_ROOTFS"]
REGISTRY = os.environ["WARREN_FUZZ_REGISTRY"]
SANDBOX = os.environ["WARREN_FUZZ_SANDBOX"]
IMAGE = os.environ["WARREN_FUZZ_IMAGE"]
URL = os.environ["WARREN_FUZZ_URL"]


def attachable():
    """A fresh sandbox running cat on its stdin: an attach to it ends once its input does."""
    # Its timeout ends it even when the attach sends no input to end.
    spec = {"rootfs": ROOTFS, "command": ["/bin/cat"], "stdin": True, "autoRemove": True,
            "limits": {"timeoutSeconds": 5}}
    request = urllib.request.Request(URL + "/v1/sandboxes", data=json.dumps(spec).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["id"]


def confined(path):
    if not isinstance(path, str):
        return path
    cleaned = re.sub(r"[^A-Za-z0-9._/-]", "", path).replace("..", "")
    return FUZZ_DIR + "/" + cleaned.lstrip("/")


def coin(value):
    """A stable half of the drawn values, whatever their type."""
    return len(repr(value)) % 2 == 0


@schemathesis.hook
def before_call(ctx, case, kwargs):
    method = case.operation.method.upper()
    path = case.operation.path
    if isinstance(case.query, dict):
        case.query.pop("follow", None)
    params = case.path_parameters if isinstance(case.path_parameters, dict) else {}
    if "id" in params and coin(params["id"]):
        params["id"] = attachable() if path.endswith("/attach") else SANDBOX
    elif "id" in params and path.endswith("/attach"):
        # A drawn id could be the prefix of a running sandbox's, and an attach to one that
        # does not end on its input lasts as long as it runs.
        params["id"] = "missing-" + str(params["id"])
    if "ref" in params and coin(params["ref"]):
        params["ref"] = IMAGE
    body = case.body
    if not isinstance(body, dict):
        return
    if method == "POST" and path == "/v1/sandboxes":
        if isinstance(body.get("rootfs"), str):
            body["rootfs"] = ROOTFS if coin(body["rootfs"]) else confined(body["rootfs"])
        body.pop("driver", None)
        mounts = body.get("mounts")
        if isinstance(mounts, list):
            for m in mounts:
                if isinstance(m, dict) and "source" in m:
                    m["source"] = confined(m["source"])
    if method == "POST" and path == "/v1/agents":
        # Host paths confined; no image the fuzz daemon holds, so no session outlives its
        # request: what is fuzzed is the checking, not hundreds of idle sandboxes.
        for key in ("workspace", "repo", "rootfs"):
            if key in body:
                body[key] = confined(body[key])
        body.pop("driver", None)
        body.pop("image", None)
    if method == "POST" and path == "/v1/images/pull" and isinstance(body.get("reference"), str):
        first, sep, rest = body["reference"].partition("/")
        ref = rest if sep and ("." in first or ":" in first or first == "localhost") else body["reference"]
        body["reference"] = REGISTRY + "/" + ref
    if "path" in body:
        body["path"] = confined(body["path"])


@schemathesis.serializer("application/x-ndjson")
def ndjson_request(ctx, value):
    items = value if isinstance(value, list) else [value]
    # An attached client ends its input, as `warren run -i` does when its stdin ends.
    if ctx.case.operation.path.endswith("/attach"):
        items = items + [{"eof": True}]
    return {"data": "".join(json.dumps(item) + "\n" for item in items).encode()}


@schemathesis.deserializer("application/x-ndjson")
def ndjson_response(ctx, response):
    """Every line must be a JSON object; the first is checked against the schema."""
    objects = []
    for line in response.content.decode("utf-8").splitlines():
        if not line.strip():
            continue
        value = json.loads(line)
        if not isinstance(value, dict):
            raise ValueError(f"an NDJSON line is not an object: {line[:200]}")
        objects.append(value)
    if not objects:
        raise NotImplementedError("an empty stream has no line to check")
    return objects[0]
