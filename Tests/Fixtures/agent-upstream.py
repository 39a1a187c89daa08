#!/usr/bin/env python3
"""A scripted model upstream for running the real Claude Code and Codex CLIs offline in tests.

It speaks the Anthropic Messages API (POST /v1/messages, streaming or not, and
/v1/messages/count_tokens) and the OpenAI Responses API (POST /v1/responses, streamed as
Codex reads it; GET /v1/responses, Codex's WebSocket attempt, gets 426; GET /v1/models).
Claude Code's connectivity check (HEAD /api/hello, sent unless
CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1) gets 200. Every request is appended as one
JSON line to the record file: method, path, headers, body. The keys it expects are given
on the command line; any other key gets the provider's 401.

    agent-upstream.py --port-file F --record R --openai-key K1 --anthropic-key K2
                      [--host 127.0.0.1] [--chunk-pause SECONDS]

What it answers is steered by the latest user prompt in the request, so a test decides
what the agent does:
  "write FILE: CONTENT"  a tool call writing CONTENT (and a newline) to FILE in the agent's
                         working directory (Claude Code: its Write tool with an absolute
                         path; Codex: its shell tool), then, once the request carries the
                         tool's result, the text "done: wrote FILE".
  "run: CMD"             a shell tool call running CMD (Claude Code: Bash; Codex: its shell
                         tool), then the text "ran: " and the first 200 characters of its output.
  anything else          the text "echo: PROMPT turns=N", N being the number of user prompts
                         in the conversation (a follow-up turn that carries the history has N > 1).
  "fail429" in the prompt, or the model "error-429": the provider's 429 rate-limit error.
A tool is only called when the request offers it; otherwise the answer is the echo text.
A tool result marked as an error ends the turn with "error: " and the result instead.
Every answer reports usage: input tokens estimated from the request's size, output tokens
from the answer's.
"""
import argparse
import json
import os
import re
import shlex
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.S)
# Codex sends its context (working directory, AGENTS.md and the like) as user messages
# in tags; they are not prompts.
CONTEXT_PREFIXES = ("<environment_context>", "<user_instructions>", "# AGENTS.md", "<INSTRUCTIONS>",
                    "<user_shell_command>", "<turn_aborted>")
WRITE = re.compile(r"\bwrite ([^\s:]+): ?([^\n]*)")
RUN = re.compile(r"\brun: ?([^\n]+)")


def record(handler, body):
    entry = {"method": handler.command, "path": handler.path,
             "headers": {k.lower(): v for k, v in handler.headers.items()}, "body": body}
    with LOCK, open(ARGS.record, "a") as f:
        f.write(json.dumps(entry) + "\n")


def tokens(text):
    return max(1, len(text) // 4)


def new_id(prefix):
    return prefix + uuid.uuid4().hex[:24]


def plan(prompt, turns, result, tools):
    """What to answer: ("text", TEXT) or ("tool", KIND, ARG, ARG2) for "write" or "run".

    `result` is None when the request does not end with a tool's result, else
    (text, is_error); `tools` says which of "write" and "run" the request offers.
    """
    write, run = WRITE.search(prompt), RUN.search(prompt)
    if result is not None and (write or run):
        text, is_error = result
        if is_error:
            return ("text", "error: " + text[:200])
        if write:
            return ("text", f"done: wrote {write.group(1)}")
        return ("text", "ran: " + text[:200])
    if write and "write" in tools:
        return ("tool", "write", write.group(1), write.group(2))
    if run and "run" in tools:
        return ("tool", "run", run.group(1), None)
    return ("text", f"echo: {prompt} turns={turns}")


# Anthropic Messages, as Claude Code uses it.

def blocks(content):
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def block_text(content):
    return "".join(b.get("text", "") for b in blocks(content) if b.get("type") == "text")


def anthropic_conversation(body):
    """(latest prompt, number of prompts, result of the last tool call or None)."""
    prompts = []
    for m in body.get("messages", []):
        if m.get("role") != "user" or any(b.get("type") == "tool_result" for b in blocks(m.get("content"))):
            continue
        text = REMINDER.sub("", block_text(m.get("content"))).strip()
        if text:
            prompts.append(text)
    result = None
    messages = body.get("messages") or [{}]
    last = blocks(messages[-1].get("content"))
    results = [b for b in last if b.get("type") == "tool_result"]
    if messages[-1].get("role") == "user" and results:
        r = results[-1]
        result = (REMINDER.sub("", block_text(r.get("content"))).strip(), bool(r.get("is_error")))
    return (prompts[-1] if prompts else "", len(prompts), result)


def working_directory(body):
    """The working directory Claude Code states in its system prompt, or /workspace."""
    system = body.get("system")
    text = system if isinstance(system, str) else block_text(system)
    text += "".join(block_text(m.get("content")) for m in body.get("messages", []))
    found = re.search(r"(?:Primary working directory|Working directory): *(/[^\s]*)", text)
    return found.group(1) if found else "/workspace"


def anthropic_reply(body):
    """The content blocks and stop reason of the answer to a Messages request."""
    prompt, turns, result = anthropic_conversation(body)
    names = {t.get("name") for t in body.get("tools") or []}
    offered = ({"write"} if "Write" in names or "Bash" in names else set()) | ({"run"} if "Bash" in names else set())
    what = plan(prompt, turns, result, offered)
    if what[0] == "text":
        return [{"type": "text", "text": what[1]}], "end_turn"
    _, kind, arg, content = what
    if kind == "write" and "Write" in names:
        path = arg if arg.startswith("/") else os.path.join(working_directory(body), arg)
        call = ("Write", {"file_path": path, "content": content + "\n"})
    elif kind == "write":
        call = ("Bash", {"command": f"printf '%s\\n' {shlex.quote(content)} > {shlex.quote(arg)}",
                         "description": f"Write {arg}"})
    else:
        call = ("Bash", {"command": arg, "description": "Run the requested command"})
    return ([{"type": "text", "text": f"Calling {call[0]}."},
             {"type": "tool_use", "id": new_id("toolu_"), "name": call[0], "input": call[1]}], "tool_use")


# OpenAI Responses, as Codex uses it.

def item_text(item):
    content = item.get("content")
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


def responses_conversation(body):
    """(latest prompt, number of prompts, result of the last tool call or None)."""
    items = body.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    prompts, result = [], None
    for item in items or []:
        kind = item.get("type", "message")
        if kind == "message" and item.get("role") == "user":
            text = item_text(item).strip()
            if text and not text.startswith(CONTEXT_PREFIXES):
                prompts.append(text)
                result = None
        elif kind in ("function_call_output", "custom_tool_call_output"):
            output = item.get("output")
            if isinstance(output, dict):
                output = output.get("content", "")
            if isinstance(output, list):
                output = "".join(p.get("text", "") for p in output if isinstance(p, dict))
            output = str(output or "")
            # Codex's unified exec reports a header before the command's output.
            marker = output.find("Output:\n")
            exit_code = re.search(r"(?:exited with code|Exit code:) *(-?\d+)", output)
            result = (output[marker + 8:] if marker >= 0 else output,
                      bool(exit_code and exit_code.group(1) != "0"))
    return (prompts[-1] if prompts else "", len(prompts), result)


def shell_call(names, command):
    """A call of whichever shell tool Codex offers, running `command`: (name, arguments)."""
    if "exec_command" in names:
        return "exec_command", {"cmd": command}
    if "shell_command" in names:
        return "shell_command", {"command": command}
    return "shell", {"command": ["bash", "-lc", command]}


def responses_reply(body):
    """The output items of the answer to a Responses request."""
    prompt, turns, result = responses_conversation(body)
    names = {t.get("name") for t in body.get("tools") or [] if t.get("type") == "function"}
    offered = {"write", "run"} if names & {"exec_command", "shell_command", "shell"} else set()
    what = plan(prompt, turns, result, offered)
    if what[0] == "text":
        return [{"id": new_id("msg_"), "type": "message", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": what[1], "annotations": []}]}]
    _, kind, arg, content = what
    command = f"printf '%s\\n' {shlex.quote(content)} > {shlex.quote(arg)}" if kind == "write" else arg
    name, arguments = shell_call(names, command)
    return [{"id": new_id("fc_"), "type": "function_call", "status": "completed", "name": name,
             "arguments": json.dumps(arguments), "call_id": new_id("call_")}]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def start_events(self):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

    def event(self, name, obj):
        raw = f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode()
        self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
        self.wfile.flush()
        if ARGS.chunk_pause:
            time.sleep(ARGS.chunk_pause)

    def end_events(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def authorized(self, provider):
        if provider == "openai":
            ok = self.headers.get("authorization") == f"Bearer {ARGS.openai_key}"
            if not ok:
                self.send_json(401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                               "param": None, "code": "invalid_api_key"}})
            return ok
        ok = self.headers.get("x-api-key") == ARGS.anthropic_key
        if not ok:
            self.send_json(401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
        return ok

    def do_HEAD(self):
        record(self, None)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self):
        record(self, None)
        path = self.path.split("?")[0]
        if path == "/v1/responses":
            self.send_json(426, {"error": {"message": "WebSocket is not supported here; use HTTP streaming.",
                                           "type": "invalid_request_error", "code": "upgrade_required"}})
        elif path == "/v1/models":
            anthropic = bool(self.headers.get("anthropic-version") or self.headers.get("x-api-key"))
            if not self.authorized("anthropic" if anthropic else "openai"):
                return
            models = [{"id": "test-model", "object": "model", "type": "model", "display_name": "Test model",
                       "created": 0, "created_at": "2025-01-01T00:00:00Z", "owned_by": "warren"}]
            self.send_json(200, {"object": "list", "data": models, "has_more": False,
                                 "first_id": "test-model", "last_id": "test-model"})
        else:
            self.send_json(404, {"error": {"message": "not found", "type": "not_found_error"}})

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
        if path not in ("/v1/messages", "/v1/messages/count_tokens", "/v1/responses"):
            self.send_json(404, {"error": {"message": "not found", "type": "not_found_error"}})
            return
        if not self.authorized(provider):
            return
        if path == "/v1/messages/count_tokens":
            self.send_json(200, {"input_tokens": tokens(json.dumps(body))})
            return
        if provider == "anthropic":
            prompt = anthropic_conversation(body)[0]
        else:
            prompt = responses_conversation(body)[0]
        if body.get("model") == "error-429" or "fail429" in prompt:
            self.rate_limited(provider)
        elif provider == "anthropic":
            self.answer_messages(body)
        else:
            self.answer_responses(body)

    def rate_limited(self, provider):
        headers = [("retry-after", "1")]
        if provider == "openai":
            self.send_json(429, {"error": {"message": "Rate limit reached for test-model. Please try again in 1s.",
                                           "type": "requests", "param": None, "code": "rate_limit_exceeded"}}, headers)
        else:
            self.send_json(429, {"type": "error", "error": {"type": "rate_limit_error",
                                                            "message": "Number of requests has exceeded your rate limit."}},
                           headers + [("request-id", new_id("req_"))])

    def answer_messages(self, body):
        content, stop = anthropic_reply(body)
        model = body.get("model", "")
        message_id = new_id("msg_")
        input_tokens = tokens(json.dumps(body))
        output_tokens = tokens(json.dumps(content))
        usage = {"input_tokens": input_tokens, "output_tokens": output_tokens,
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if body.get("stream") is not True:
            self.send_json(200, {"id": message_id, "type": "message", "role": "assistant", "model": model,
                                 "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage},
                           [("request-id", new_id("req_"))])
            return
        self.start_events()
        self.event("message_start", {"type": "message_start", "message": {
            "id": message_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": dict(usage, output_tokens=1)}})
        for index, block in enumerate(content):
            if block["type"] == "text":
                self.event("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": {"type": "text", "text": ""}})
                text = block["text"]
                for piece in (text[:len(text) // 2], text[len(text) // 2:]):
                    self.event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                       "delta": {"type": "text_delta", "text": piece}})
            else:
                self.event("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": dict(block, input={})})
                self.event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                   "delta": {"type": "input_json_delta",
                                                             "partial_json": json.dumps(block["input"])}})
            self.event("content_block_stop", {"type": "content_block_stop", "index": index})
        self.event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                     "usage": {"output_tokens": output_tokens}})
        self.event("message_stop", {"type": "message_stop"})
        self.end_events()

    def answer_responses(self, body):
        output = responses_reply(body)
        model = body.get("model", "")
        input_tokens = tokens(json.dumps(body))
        output_tokens = tokens(json.dumps(output))
        usage = {"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": input_tokens + output_tokens}
        response = {"id": new_id("resp_"), "object": "response", "created_at": int(time.time()), "status": "completed",
                    "model": model, "output": output, "usage": usage}
        if body.get("stream") is not True:
            self.send_json(200, response)
            return
        seq = iter(range(1 << 30))
        self.start_events()
        pending = dict(response, status="in_progress", output=[], usage=None)
        self.event("response.created", {"type": "response.created", "sequence_number": next(seq), "response": pending})
        self.event("response.in_progress", {"type": "response.in_progress", "sequence_number": next(seq),
                                            "response": pending})
        for index, item in enumerate(output):
            common = {"output_index": index}
            if item["type"] == "message":
                text = item["content"][0]["text"]
                self.event("response.output_item.added", dict(common, type="response.output_item.added",
                                                              sequence_number=next(seq),
                                                              item=dict(item, status="in_progress", content=[])))
                part = {"item_id": item["id"], "output_index": index, "content_index": 0}
                self.event("response.content_part.added", dict(part, type="response.content_part.added",
                                                               sequence_number=next(seq),
                                                               part={"type": "output_text", "text": "", "annotations": []}))
                for piece in (text[:len(text) // 2], text[len(text) // 2:]):
                    self.event("response.output_text.delta", dict(part, type="response.output_text.delta",
                                                                  sequence_number=next(seq), delta=piece))
                self.event("response.output_text.done", dict(part, type="response.output_text.done",
                                                             sequence_number=next(seq), text=text))
                self.event("response.content_part.done", dict(part, type="response.content_part.done",
                                                              sequence_number=next(seq), part=item["content"][0]))
            else:
                self.event("response.output_item.added", dict(common, type="response.output_item.added",
                                                              sequence_number=next(seq),
                                                              item=dict(item, status="in_progress", arguments="")))
                self.event("response.function_call_arguments.delta",
                           dict(common, type="response.function_call_arguments.delta", sequence_number=next(seq),
                                item_id=item["id"], delta=item["arguments"]))
                self.event("response.function_call_arguments.done",
                           dict(common, type="response.function_call_arguments.done", sequence_number=next(seq),
                                item_id=item["id"], arguments=item["arguments"]))
            self.event("response.output_item.done", dict(common, type="response.output_item.done",
                                                         sequence_number=next(seq), item=item))
        self.event("response.completed", {"type": "response.completed", "sequence_number": next(seq),
                                          "response": response})
        self.end_events()


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--record", required=True)
    parser.add_argument("--openai-key", required=True)
    parser.add_argument("--anthropic-key", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--chunk-pause", type=float, default=0.0)
    ARGS = parser.parse_args()
    server = ThreadingHTTPServer((ARGS.host, 0), Handler)
    server.daemon_threads = True
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
