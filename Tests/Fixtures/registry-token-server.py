#!/usr/bin/env python3
"""Bearer-token issuer for a test registry using distribution's "token" auth.

usage: registry-token-server.py --key KEY.pem --cert CERT.pem --user USER --password PASS
                                --log LOG.jsonl [--port 0] [--expires-in 300]
       registry-token-server.py --generate --key KEY.pem --cert CERT.pem

Serves GET /token?service=S&scope=repository:NAME:ACTIONS (scope may repeat, or hold
several space-separated scopes) on 127.0.0.1. The request must carry HTTP Basic
credentials equal to USER/PASS, else the answer is 401 with a JSON error. On success
the answer is {"token", "access_token", "expires_in", "issued_at"}, the token being an
RS256 JWT whose header carries CERT in "x5c", with iss "warren-test-issuer", sub USER,
aud S, and an "access" claim granting every action that was asked for. Once listening
the port is printed on stdout as one line. Every request appends one JSON line to LOG
(method, path, service, scopes, account, whether the credentials matched, status), so a
test can count how many tokens a client fetched. Registry 2.8 still accepts a token
for about 60 s after its exp, so a short --expires-in shows up in the LOG count (a
client fetching again), not as 401s from the registry.

--generate writes the signing key and a self-signed certificate, then exits; it runs
  openssl req -x509 -newkey rsa:2048 -nodes -keyout KEY.pem -out CERT.pem -days 3650 \
      -subj /CN=warren-test-token-signer \
      -addext basicConstraints=critical,CA:TRUE \
      -addext keyUsage=critical,digitalSignature,keyCertSign
CERT.pem is the registry's rootcertbundle; the registry config to pair with it:
  auth: {token: {realm: "http://127.0.0.1:PORT/token", service: warren-test-registry,
                 issuer: warren-test-issuer, rootcertbundle: CERT.pem}}
"""
import argparse, base64, binascii, hmac, json, os, ssl, subprocess, sys, threading, time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ISSUER = "warren-test-issuer"


def generate(key, cert):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "3650",
                    "-subj", "/CN=warren-test-token-signer",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,digitalSignature,keyCertSign"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parse_scopes(values):
    """'repository:NAME:pull,push' -> {"type", "name", "actions"}; unparsable ones are skipped."""
    access = []
    for value in values:
        for scope in value.split():
            parts = scope.split(":")
            if len(parts) < 3:
                continue
            actions = [a for a in parts[-1].split(",") if a]
            name = ":".join(parts[1:-1])
            for entry in access:  # the same resource asked twice: merge the actions
                if entry["type"] == parts[0] and entry["name"] == name:
                    entry["actions"] += [a for a in actions if a not in entry["actions"]]
                    break
            else:
                access.append({"type": parts[0], "name": name, "actions": actions})
    return access


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "warren-test-token/1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, extra=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def credentials(self):
        header = self.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user, password

    def do_GET(self):
        cfg = self.server.cfg
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        service = query.get("service", [""])[0]
        scopes = query.get("scope", [])
        creds = self.credentials()
        ok = (creds is not None and hmac.compare_digest(creds[0].encode(), cfg.user.encode())
              and hmac.compare_digest(creds[1].encode(), cfg.password.encode()))
        if url.path != "/token":
            status = 404
            self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "only /token is served"}]})
        elif not ok:
            status = 401
            self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad or missing credentials"}]},
                       [("WWW-Authenticate", 'Basic realm="warren-test-token"')])
        else:
            status = 200
            now = int(time.time())
            token = self.server.sign({
                "iss": ISSUER, "sub": cfg.user, "aud": service,
                "exp": now + cfg.expires_in, "nbf": now, "iat": now,
                "jti": binascii.hexlify(os.urandom(16)).decode(),
                "access": parse_scopes(scopes)})
            issued = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.reply(200, {"token": token, "access_token": token,
                             "expires_in": cfg.expires_in, "issued_at": issued})
        self.server.log({"time": time.time(), "method": self.command, "path": url.path,
                         "service": service, "scope": scopes,
                         "account": query.get("account", [None])[0],
                         "user": creds[0] if creds else None, "auth": ok, "status": status})

    do_HEAD = do_GET

    def do_POST(self):  # OAuth2 password grants are not offered; clients fall back to GET
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.reply(405, {"errors": [{"code": "UNSUPPORTED", "message": "use GET"}]}, [("Allow", "GET")])
        self.server.log({"time": time.time(), "method": "POST", "path": urlsplit(self.path).path,
                         "scope": [], "auth": False, "status": 405})


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cfg):
        super().__init__(("127.0.0.1", cfg.port), Handler)
        self.cfg = cfg
        self.lock = threading.Lock()
        with open(cfg.cert) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        self.header = b64url(json.dumps({"typ": "JWT", "alg": "RS256",
                                         "x5c": [base64.b64encode(der).decode()]},
                                        separators=(",", ":")).encode())

    def sign(self, claims):
        signing_input = self.header + "." + b64url(json.dumps(claims, separators=(",", ":")).encode())
        # RSASSA-PKCS1-v1_5 over SHA-256 is what JWS calls RS256.
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.cfg.key],
                                   input=signing_input.encode(), stdout=subprocess.PIPE,
                                   check=True).stdout
        return signing_input + "." + b64url(signature)

    def log(self, entry):
        with self.lock, open(self.cfg.log, "a") as f:
            f.write(json.dumps(entry) + "\n")


def main():
    p = argparse.ArgumentParser(description="bearer-token server for registry tests")
    p.add_argument("--key", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--generate", action="store_true", help="write KEY and CERT, then exit")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--log")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--expires-in", type=int, default=300)
    cfg = p.parse_args()
    if cfg.generate:
        generate(cfg.key, cfg.cert)
        return
    if cfg.user is None or cfg.password is None or cfg.log is None:
        p.error("--user, --password and --log are required to serve")
    server = Server(cfg)
    sys.stdout.write("%d\n" % server.server_address[1])
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
