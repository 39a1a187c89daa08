#!/usr/bin/env python3
"""HTTP forwarder that sits in front of a test registry and injects faults.

usage: registry-proxy.py --upstream http://127.0.0.1:REGPORT --log LOG.jsonl
                         [--fail-first N] [--cut-blob-once] [--redirect-blobs]
                         [--blob-auth USER:PASS] [--rate BYTES_PER_SEC]

Listens on an ephemeral 127.0.0.1 port and prints it on stdout as one line. Each
request (method, path, query, headers with Authorization and Range, body) is passed on
to the upstream, and the answer is streamed back without being held in memory. The
Host header is passed on unchanged, so the registry builds upload Locations that point
back at the proxy.

--fail-first N    the first N requests (counted over all listeners) get 503 with a JSON
                  error body and are not passed on.
--cut-blob-once   the first GET of /v2/<name>/blobs/sha256:<hex> that the upstream answers
                  200 or 206 gets the status, the headers (with the full Content-Length)
                  and half of the body, then the connection is closed. Later GETs pass
                  intact, Range included, so a client can resume (the registry answers
                  206). Combined with --redirect-blobs the cut happens on the second
                  listener.
--redirect-blobs  a second listener is opened and its port printed as a second line;
                  GETs of blobs on the first listener are answered 307 with a Location
                  on the second (another origin), which passes requests on like the
                  first. The log shows whether the redirected request still carried
                  Authorization.
--blob-auth       with --redirect-blobs: the second listener drops the client's
                  Authorization and logs in upstream with USER:PASS itself, as blob
                  storage with signed URLs would.
--rate            response bodies are sent no faster than BYTES_PER_SEC.

Every request appends one JSON line to LOG: listener ("main" or "blob"), method, path,
query, status, authorization (bool), range (the header or null), injected ("fail",
"cut", "redirect" or null; "...; error: ..." when a peer vanished mid-exchange) and
bytes (body bytes sent to the client). Requests too garbled to parse, such as a TLS
probe, are answered 400 by the HTTP server itself and are neither logged nor counted.
"""
import argparse, base64, http.client, json, re, socket, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

BLOB = re.compile(r"^/v2/.+/blobs/sha256:[0-9a-f]{64}$")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade", "expect", "content-length"}
CHUNK = 64 * 1024


class State:
    def __init__(self, cfg):
        self.cfg = cfg
        self.lock = threading.Lock()
        self.requests = 0
        self.cut_done = False
        self.blob_port = None

    def count(self):
        with self.lock:
            self.requests += 1
            return self.requests

    def take_cut(self):
        with self.lock:
            if not self.cfg.cut_blob_once or self.cut_done:
                return False
            self.cut_done = True
            return True

    def log(self, entry):
        with self.lock, open(self.cfg.log, "a") as f:
            f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_expect_100(self):
        return True  # let the client send its body; Expect is not passed on

    # --- plumbing ---------------------------------------------------------------

    def request_body(self):
        """Yields the request body in pieces, undoing chunked framing if present."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                yield from self.read_exactly(size)
                self.rfile.readline()
        else:
            yield from self.read_exactly(int(self.headers.get("Content-Length") or 0))

    def read_exactly(self, size):
        """Yields exactly `size` bytes of the request in pieces."""
        left = size
        while left:
            piece = self.rfile.read(min(left, CHUNK))
            if not piece:
                raise ConnectionError("client went away mid-body")
            left -= len(piece)
            yield piece

    def has_body(self):
        return ("chunked" in self.headers.get("Transfer-Encoding", "").lower()
                or int(self.headers.get("Content-Length") or 0) > 0)

    def simple(self, status, body=None, headers=()):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response_only(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        if self.has_body():  # the unread request body would poison the connection
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return len(data)

    def forward(self, may_cut):
        """Passes the request upstream and streams the answer back; returns (status, bytes)."""
        up = urlsplit(self.server.state.cfg.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port or 80, timeout=300)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            blob_auth = self.server.state.cfg.blob_auth if self.server.listener == "blob" else None
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP and not (blob_auth and name.lower() == "authorization"):
                    conn.putheader(name, value)
            if blob_auth:
                # Storage that authenticates its own way (a signed URL, here a login of its own).
                conn.putheader("Authorization", "Basic " + base64.b64encode(blob_auth.encode()).decode())
            chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            elif self.headers.get("Content-Length") is not None:
                conn.putheader("Content-Length", self.headers["Content-Length"])
            conn.endheaders()
            for piece in self.request_body():
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                conn.send(b"0\r\n\r\n")
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            return 502, self.simple(502, {"errors": [{"code": "UNAVAILABLE",
                                                      "message": "upstream: %s" % e}]})
        try:
            self.status = resp.status
            cut = may_cut and resp.status in (200, 206) and self.server.state.take_cut()
            if cut:
                self.injected = "cut"
            return resp.status, self.relay(resp, cut)
        finally:
            conn.close()

    def relay(self, resp, cut):
        self.send_response_only(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        length = resp.getheader("Content-Length")
        bodyless = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
        rechunk = False
        if length is not None:
            self.send_header("Content-Length", length)
        elif not bodyless:
            self.send_header("Transfer-Encoding", "chunked")
            rechunk = True
        self.end_headers()
        if bodyless:
            return 0
        limit = int(length) // 2 if cut and length is not None else None
        sent = 0
        while True:
            want = CHUNK if limit is None else min(CHUNK, limit - sent)
            piece = resp.read(want) if want else b""
            if not piece:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if rechunk else piece)
            sent += len(piece)
            rate = self.server.state.cfg.rate
            if rate:
                time.sleep(len(piece) / rate)
        if limit is not None:
            self.wfile.flush()
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True
        elif rechunk:
            self.wfile.write(b"0\r\n\r\n")
        return sent

    # --- dispatch ---------------------------------------------------------------

    def handle_any(self):
        state = self.server.state
        cfg = state.cfg
        path = urlsplit(self.path)
        n = state.count()
        is_blob_get = self.command == "GET" and BLOB.match(path.path) is not None
        self.injected, self.status = None, 0
        try:
            if n <= cfg.fail_first:
                self.injected = "fail"
                status, sent = 503, self.simple(503, {"errors": [{
                    "code": "UNAVAILABLE", "message": "injected failure %d of %d" % (n, cfg.fail_first)}]})
            elif is_blob_get and self.server.listener == "main" and cfg.redirect_blobs:
                self.injected = "redirect"
                status, sent = 307, self.simple(307, headers=[
                    ("Location", "http://127.0.0.1:%d%s" % (state.blob_port, self.path))])
            else:
                status, sent = self.forward(is_blob_get)
            injected = self.injected
        except (OSError, http.client.HTTPException) as e:  # a peer vanished mid-exchange
            status, sent, injected = self.status, None, "%s; error: %s" % (self.injected, e)
            self.close_connection = True
        state.log({"time": time.time(), "listener": self.server.listener, "method": self.command,
                   "path": path.path, "query": path.query, "status": status,
                   "authorization": "Authorization" in self.headers,
                   "range": self.headers.get("Range"), "injected": injected, "bytes": sent})

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_OPTIONS = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state, listener):
        super().__init__(("127.0.0.1", 0), Handler)
        self.state, self.listener = state, listener


def main():
    p = argparse.ArgumentParser(description="fault-injecting forwarder for registry tests")
    p.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT")
    p.add_argument("--log", required=True)
    p.add_argument("--fail-first", type=int, default=0, metavar="N")
    p.add_argument("--cut-blob-once", action="store_true")
    p.add_argument("--redirect-blobs", action="store_true")
    p.add_argument("--blob-auth", metavar="USER:PASS",
                   help="with --redirect-blobs: the blob listener logs in upstream itself with these")
    p.add_argument("--rate", type=int, default=0, metavar="BYTES_PER_SEC",
                   help="send response bodies no faster than this")
    cfg = p.parse_args()
    state = State(cfg)
    servers = [Server(state, "main")]
    if cfg.redirect_blobs:
        servers.append(Server(state, "blob"))
        state.blob_port = servers[1].server_address[1]
    for s in servers:
        sys.stdout.write("%d\n" % s.server_address[1])
    sys.stdout.flush()
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
