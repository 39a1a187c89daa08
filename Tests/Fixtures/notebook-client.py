#!/usr/bin/env python3
"""A browser's part in the notebook tests: talks to Warren's /notebooks/<id>/ proxy the
way JupyterLab does (cookies, XSRF header, Origin, kernel and terminal WebSockets) and
prints what it saw as one JSON object for the Swift test to check.

    notebook-client.py tour LINK [OTHER_PREFIX]   sign in, kernel, terminal, refusals
    notebook-client.py files LINK MEGABYTES       upload and download through the contents API
    notebook-client.py hold LINK                  open a kernel WebSocket, then report how it ends
    notebook-client.py status URL                 the status of a plain GET
"""
import base64
import hashlib
import json
import os
import sys
import time
import uuid
from urllib.parse import urlsplit

import requests
import websocket


def sign_in(link):
    """Spends the one-time link the way a browser would; returns the session and prefix."""
    parts = urlsplit(link)
    base = f"{parts.scheme}://{parts.netloc}"
    session = requests.Session()
    answer = session.get(link, allow_redirects=False)
    # The page moves the browser on to the notebook, which sets Jupyter's _xsrf cookie.
    session.get(base + parts.path)
    return session, base, parts.path, answer


def xsrf_headers(session, base):
    return {"X-XSRFToken": session.cookies.get("_xsrf", ""), "Origin": base}


def cookie_header(session):
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


def ws_url(base, path):
    return "ws" + base[len("http"):] + path


def execute(ws, code):
    """Runs `code` on the kernel behind `ws`; returns what it printed."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": uuid.uuid4().hex,
                   "date": "", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    out = ""
    deadline = time.time() + 60
    while time.time() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out += msg["content"]["text"]
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return out
    raise SystemExit("the kernel did not answer in 60 s")


def start_kernel(session, base, prefix):
    answer = session.post(base + prefix + "api/kernels", json={"name": "python3"}, headers=xsrf_headers(session, base))
    answer.raise_for_status()
    return answer.json()["id"]


def tour(link, other_prefix):
    facts = {}
    parts = urlsplit(link)
    base = f"{parts.scheme}://{parts.netloc}"
    prefix = parts.path
    facts["unauthenticated"] = requests.get(base + prefix + "api/status").status_code
    facts["unauthenticated_ws"] = ws_status(ws_url(base, prefix + "api/events/subscribe"), [], base)
    facts["unknown_sandbox"] = requests.get(base + "/notebooks/" + "0" * 64 + "/api/status").status_code
    facts["unknown_sandbox_ws"] = ws_status(ws_url(base, "/notebooks/" + "0" * 64 + "/api/events/subscribe"), [], base)

    session, base, prefix, answer = sign_in(link)
    facts["link"] = answer.status_code
    facts["set_cookie"] = [c for c in answer.raw.headers.getlist("Set-Cookie") if c.startswith("warren-notebook=")]
    facts["link_again"] = requests.get(link, allow_redirects=False).status_code
    facts["status"] = session.get(base + prefix + "api/status").status_code
    facts["has_xsrf_cookie"] = "_xsrf" in session.cookies

    # Jupyter's XSRF check is on: a cookie-authenticated POST without the header is refused.
    facts["post_without_xsrf"] = session.post(base + prefix + "api/kernels", json={"name": "python3"}).status_code
    kernel = start_kernel(session, base, prefix)
    facts["kernel_started"] = bool(kernel)

    headers = [f"Cookie: {cookie_header(session)}"]
    # Jupyter picks the subprotocol (its binary v1 framing when offered); the proxy passes its choice on.
    ws = websocket.create_connection(ws_url(base, prefix + f"api/kernels/{kernel}/channels"), header=headers,
                                     origin=base, subprotocols=["v1.kernel.websocket.jupyter.org"], timeout=60)
    facts["kernel_subprotocol"] = ws.getsubprotocol()
    ws.close()
    # The JSON framing for the rest.
    ws = websocket.create_connection(ws_url(base, prefix + f"api/kernels/{kernel}/channels"), header=headers,
                                     origin=base, timeout=60)
    facts["kernel_output"] = execute(ws, "print(6*7)")
    # A large message and a ping go through the proxy untouched.
    facts["kernel_large_input"] = execute(ws, "print(len('" + "x" * (64 << 20) + "'))").strip()
    ws.ping(b"warren")
    ws.close()

    facts["foreign_origin_ws"] = ws_status(ws_url(base, prefix + f"api/kernels/{kernel}/channels"), headers,
                                           "http://evil.example")
    facts["foreign_origin_post"] = session.post(base + prefix + "api/kernels", json={"name": "python3"},
                                                headers={**xsrf_headers(session, base), "Origin": "http://evil.example"}).status_code

    # A terminal: its WebSocket runs a shell command.
    term = session.post(base + prefix + "api/terminals", headers=xsrf_headers(session, base))
    term.raise_for_status()
    name = term.json()["name"]
    tws = websocket.create_connection(ws_url(base, prefix + f"terminals/websocket/{name}"), header=headers, origin=base,
                                      timeout=30)
    tws.send(json.dumps(["stdin", "echo warren-$((6*7))-term\r"]))
    seen = ""
    deadline = time.time() + 30
    while "warren-42-term" not in seen and time.time() < deadline:
        msg = json.loads(tws.recv())
        if msg[0] == "stdout":
            seen += msg[1]
    facts["terminal_output_has_42"] = "warren-42-term" in seen
    tws.close()

    if other_prefix:
        # This sandbox's session cookie does not open another sandbox's notebook.
        cookie = session.cookies.get("warren-notebook", path=prefix)
        facts["cross_sandbox"] = requests.get(base + other_prefix + "api/status",
                                              headers={"Cookie": f"warren-notebook={cookie}"}).status_code
        facts["cross_sandbox_ws"] = ws_status(ws_url(base, other_prefix + "api/events/subscribe"),
                                              [f"Cookie: warren-notebook={cookie}"], base)
    print(json.dumps(facts))


def ws_status(url, headers, origin):
    """The HTTP status a WebSocket handshake got (101 when it opened)."""
    try:
        ws = websocket.create_connection(url, header=headers, origin=origin, timeout=30)
        ws.close()
        return 101
    except websocket.WebSocketBadStatusException as error:
        return error.status_code


def files(link, megabytes):
    session, base, prefix, _ = sign_in(link)
    data = os.urandom(megabytes << 20)
    started = time.time()
    put = session.put(base + prefix + "api/contents/upload.bin", headers=xsrf_headers(session, base),
                      json={"type": "file", "format": "base64", "content": base64.b64encode(data).decode()})
    uploaded = time.time()
    # Jupyter wants a Referer of its own on file downloads, as a browser sends.
    got = session.get(base + prefix + "files/upload.bin", stream=True, headers={"Referer": base + prefix})
    digest = hashlib.sha256()
    size = 0
    for chunk in got.iter_content(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    print(json.dumps({
        "upload": put.status_code, "download": got.status_code, "size": size,
        "same": digest.hexdigest() == hashlib.sha256(data).hexdigest(),
        "upload_seconds": round(uploaded - started, 2), "download_seconds": round(time.time() - uploaded, 2),
    }))


def hold(link):
    """Opens a kernel WebSocket, says so, and reports how it ended once the sandbox stops."""
    session, base, prefix, _ = sign_in(link)
    kernel = start_kernel(session, base, prefix)
    ws = websocket.create_connection(ws_url(base, prefix + f"api/kernels/{kernel}/channels"),
                                     header=[f"Cookie: {cookie_header(session)}"], origin=base, timeout=120)
    print(json.dumps({"open": True}), flush=True)
    ended = "timeout"
    try:
        while True:
            frame = ws.recv_data_frame(control_frame=True)[1]
            if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                ended = "close frame"
                break
    except websocket.WebSocketConnectionClosedException:
        ended = "connection closed"
    except websocket.WebSocketTimeoutException:
        ended = "timeout"
    after = requests.get(base + prefix + "api/status", headers={"Cookie": cookie_header(session)}).status_code
    print(json.dumps({"ended": ended, "status_after": after}), flush=True)


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "tour":
        tour(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    elif command == "files":
        files(sys.argv[2], int(sys.argv[3]))
    elif command == "hold":
        hold(sys.argv[2])
    elif command == "status":
        print(json.dumps({"status": requests.get(sys.argv[2]).status_code}))
    else:
        raise SystemExit(f"unknown command {command}")
