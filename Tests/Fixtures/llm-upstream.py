#!/usr/bin/env python3
"""A test upstream speaking the OpenAI and Anthropic HTTP APIs, for the LLM facade's tests.

It answers chat completions, responses, models, messages and count_tokens, streaming
(server-sent events, one event per write with a pause between them) or not, with usage
as each provider reports it. Every request it receives is appended as one JSON line to
the record file: method, path, headers and body. The key it expects is given on the
command line; any other key gets the provider's 401.

    llm-upstream.py --port-file F --record R --openai-key K1 --anthropic-key K2
The model name steers errors: "error-400" answers 400, "error-500" answers 500, and
"endless" streams chat chunks for a minute; when its reader goes away before the end it
records a line with the method "GONE" and how many events had been written.
"drop-reused" is answered on a new connection only: on a kept-alive one the request is
dropped with the connection, as a server whose idle timeout raced it would, and a line
with the method "DROPPED" recorded.
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
CHUNK_PAUSE = 0.25


def record(handler, body):
    entry = {"method": handler.command, "path": handler.path,
             "headers": {k.lower(): v for k, v in handler.headers.items()}, "body": body}
    with LOCK, open(ARGS.record, "a") as f:
        f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-upstream", "warren-test")
        self.end_headers()
        self.wfile.write(data)

    def start_events(self):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

    def event(self, data, name=None, pause=True):
        text = (f"event: {name}\n" if name else "") + f"data: {data}\n\n"
        raw = text.encode()
        self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
        self.wfile.flush()
        if pause:
            time.sleep(CHUNK_PAUSE)

    def end_events(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def authorized(self, provider):
        if provider == "openai":
            ok = self.headers.get("authorization") == f"Bearer {ARGS.openai_key}"
            if not ok:
                self.send_json(401, {"error": {"message": "bad key", "type": "invalid_request_error", "code": "invalid_api_key"}})
            return ok
        ok = self.headers.get("x-api-key") == ARGS.anthropic_key
        if not ok:
            self.send_json(401, {"type": "error", "error": {"type": "authentication_error", "message": "bad key"}})
        return ok

    def do_GET(self):
        record(self, None)
        if self.path.startswith("/v1/models"):
            provider = "anthropic" if self.headers.get("anthropic-version") else "openai"
            if not self.authorized(provider):
                return
            self.send_json(200, {"object": "list", "data": [{"id": "test-model", "object": "model", "owned_by": "warren"}]})
            return
        self.send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"unparsed": raw.decode(errors="replace")}
        record(self, body)
        path = self.path.split("?")[0]
        provider = "anthropic" if path.startswith("/v1/messages") else "openai"
        if not self.authorized(provider):
            return
        model = body.get("model", "")
        served, self.served = getattr(self, "served", 0), getattr(self, "served", 0) + 1
        if model == "drop-reused" and served > 0:
            with LOCK, open(ARGS.record, "a") as f:
                f.write(json.dumps({"method": "DROPPED", "path": path, "headers": {}, "body": None}) + "\n")
            self.close_connection = True
            return
        if model.startswith("error-"):
            status = int(model.split("-")[1])
            if provider == "openai":
                self.send_json(status, {"error": {"message": f"upstream said {status}", "type": "invalid_request_error", "code": "test"}})
            else:
                self.send_json(status, {"type": "error", "error": {"type": "invalid_request_error", "message": f"upstream said {status}"}})
            return
        stream = body.get("stream") is True
        if model == "endless" and stream:
            self.endless(path)
        elif path == "/v1/chat/completions":
            self.chat(model, stream, body)
        elif path == "/v1/responses":
            self.responses_api(model, stream)
        elif path == "/v1/messages":
            self.messages(model, stream)
        elif path == "/v1/messages/count_tokens":
            self.send_json(200, {"input_tokens": 5})
        else:
            self.send_json(404, {"error": {"message": "not found"}})

    def chat(self, model, stream, body):
        words = ["Hello", " from", " the", " test", " upstream"]
        if not stream:
            self.send_json(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": model,
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(words)},
                                              "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}})
            return
        self.start_events()
        for w in words:
            self.event(json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
                                   "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}))
        if (body.get("stream_options") or {}).get("include_usage"):
            self.event(json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
                                   "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}}))
        self.event("[DONE]", pause=False)
        self.end_events()

    def endless(self, path):
        self.start_events()
        written = 0
        try:
            for _ in range(int(60 / CHUNK_PAUSE)):
                self.event(json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "endless",
                                       "choices": [{"index": 0, "delta": {"content": "more "}, "finish_reason": None}]}))
                written += 1
            self.event("[DONE]", pause=False)
            self.end_events()
        except (BrokenPipeError, ConnectionResetError):
            entry = {"method": "GONE", "path": path, "headers": {}, "body": {"written": written}}
            with LOCK, open(ARGS.record, "a") as f:
                f.write(json.dumps(entry) + "\n")
            self.close_connection = True

    def responses_api(self, model, stream):
        response = {"id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": model,
                    "output": [{"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
                                "content": [{"type": "output_text", "text": "Hi there from responses", "annotations": []}]}],
                    "usage": {"input_tokens": 17, "output_tokens": 3, "total_tokens": 20,
                              "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}}
        if not stream:
            self.send_json(200, response)
            return
        self.start_events()
        created = dict(response, status="in_progress", output=[], usage=None)
        self.event(json.dumps({"type": "response.created", "sequence_number": 0, "response": created}), "response.created")
        for i, w in enumerate(["Hi", " there", " from", " responses"]):
            self.event(json.dumps({"type": "response.output_text.delta", "sequence_number": i + 1, "item_id": "msg_1",
                                   "output_index": 0, "content_index": 0, "delta": w}), "response.output_text.delta")
        self.event(json.dumps({"type": "response.completed", "sequence_number": 5, "response": response}),
                   "response.completed", pause=False)
        self.end_events()

    def messages(self, model, stream):
        if not stream:
            self.send_json(200, {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
                                 "content": [{"type": "text", "text": "Hello from the test upstream"}],
                                 "stop_reason": "end_turn", "stop_sequence": None,
                                 "usage": {"input_tokens": 13, "output_tokens": 9}})
            return
        self.start_events()
        self.event(json.dumps({"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": None,
            "stop_sequence": None, "usage": {"input_tokens": 13, "output_tokens": 1}}}), "message_start")
        self.event(json.dumps({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                   "content_block_start")
        for w in ["Hello", " from", " the", " upstream"]:
            self.event(json.dumps({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}),
                       "content_block_delta")
        self.event(json.dumps({"type": "content_block_stop", "index": 0}), "content_block_stop")
        self.event(json.dumps({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                               "usage": {"output_tokens": 9}}), "message_delta")
        self.event(json.dumps({"type": "message_stop"}), "message_stop", pause=False)
        self.end_events()


def main():
    global ARGS, CHUNK_PAUSE
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--record", required=True)
    parser.add_argument("--openai-key", required=True)
    parser.add_argument("--anthropic-key", required=True)
    parser.add_argument("--chunk-pause", type=float, default=0.25)
    ARGS = parser.parse_args()
    CHUNK_PAUSE = ARGS.chunk_pause
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
