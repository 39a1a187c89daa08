#!/usr/bin/env python3
"""The official openai and anthropic SDKs as clients of Warren's LLM facade, for tests.

    llm-client.py sdk-tour           every endpoint, streaming and not; prints one JSON object
    llm-client.py call PROVIDER MODEL [MIB]   one non-streaming call (a prompt of MIB MiB); prints {"status", "type", "body"}
    llm-client.py leave openai MODEL   a streamed chat call left after its first piece of text; prints as `call`
    llm-client.py twice openai MODEL   two chat calls on one keep-alive connection; prints the second as `call`
The SDKs read OPENAI_BASE_URL/OPENAI_API_KEY and ANTHROPIC_BASE_URL/ANTHROPIC_API_KEY from
the environment, as an agent in a sandbox would. With WARREN_SOCKET set they talk to the
daemon's Unix socket instead (the host's way in, under /llm).
"""
import json
import os
import sys
import time

import anthropic
import openai

try:  # the SDKs moved from httpx to its successor httpx2
    import httpx2 as httpx
except ImportError:
    import httpx


def clients():
    socket = os.environ.get("WARREN_SOCKET")
    if not socket:
        return openai.OpenAI(max_retries=0), anthropic.Anthropic(max_retries=0)
    return (openai.OpenAI(base_url="http://warren/llm/v1", max_retries=0,
                          http_client=openai.DefaultHttpxClient(transport=httpx.HTTPTransport(uds=socket))),
            anthropic.Anthropic(base_url="http://warren/llm", max_retries=0,
                                http_client=anthropic.DefaultHttpxClient(transport=httpx.HTTPTransport(uds=socket))))


def timed(stream, text_of):
    arrivals, text = [], ""
    for event in stream:
        piece = text_of(event)
        if piece:
            arrivals.append(time.monotonic())
            text += piece
    return text, [round(b - a, 3) for a, b in zip(arrivals, arrivals[1:])]


def tour():
    oa, an = clients()
    out = {}
    chat = oa.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])
    out["chat"] = {"text": chat.choices[0].message.content, "usage": [chat.usage.prompt_tokens, chat.usage.completion_tokens]}
    stream = oa.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}], stream=True,
                                        stream_options={"include_usage": True})
    usage = []
    def chunk_text(chunk):
        if chunk.usage:
            usage.extend([chunk.usage.prompt_tokens, chunk.usage.completion_tokens])
        return chunk.choices[0].delta.content if chunk.choices else None
    text, gaps = timed(stream, chunk_text)
    out["chat_stream"] = {"text": text, "gaps": gaps, "usage": usage}
    resp = oa.responses.create(model="gpt-resp", input="hi")
    out["responses"] = {"text": resp.output_text, "usage": [resp.usage.input_tokens, resp.usage.output_tokens]}
    text, gaps = timed(oa.responses.create(model="gpt-resp", input="hi", stream=True),
                       lambda e: e.delta if e.type == "response.output_text.delta" else None)
    out["responses_stream"] = {"text": text, "gaps": gaps}
    out["models"] = [m.id for m in oa.models.list()]
    msg = an.messages.create(model="claude-test", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    out["messages"] = {"text": msg.content[0].text, "usage": [msg.usage.input_tokens, msg.usage.output_tokens]}
    with an.messages.stream(model="claude-test", max_tokens=16, messages=[{"role": "user", "content": "hi"}]) as s:
        text, gaps = timed(s.text_stream, lambda t: t)
        final = s.get_final_message()
    out["messages_stream"] = {"text": text, "gaps": gaps, "usage": [final.usage.input_tokens, final.usage.output_tokens]}
    out["count_tokens"] = an.messages.count_tokens(model="claude-test", messages=[{"role": "user", "content": "hi"}]).input_tokens
    return out


def call(provider, model, mib=0):
    oa, an = clients()
    prompt = "x" * (mib << 20) if mib else "hi"
    try:
        if provider == "openai":
            r = oa.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}])
            return {"status": 200, "type": None, "body": r.choices[0].message.content}
        r = an.messages.create(model=model, max_tokens=8, messages=[{"role": "user", "content": prompt}])
        return {"status": 200, "type": None, "body": r.content[0].text}
    except (openai.APIStatusError, anthropic.APIStatusError) as e:
        return {"status": e.status_code, "type": type(e).__name__, "body": e.body}
    except (openai.APIConnectionError, anthropic.APIConnectionError) as e:
        return {"status": 0, "type": type(e).__name__, "body": str(e)}


def leave(model):
    oa, _ = clients()
    stream = oa.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], stream=True)
    first = next(chunk.choices[0].delta.content for chunk in stream if chunk.choices and chunk.choices[0].delta.content)
    stream.close()  # closes the connection: the facade sees its client go
    return {"status": 200, "type": None, "body": first}


def twice(model):
    oa, _ = clients()
    first = oa.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    try:
        second = oa.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        return {"status": 200, "type": None, "body": second.choices[0].message.content, "first": first.choices[0].message.content}
    except openai.APIStatusError as e:
        return {"status": e.status_code, "type": type(e).__name__, "body": e.body}


if __name__ == "__main__":
    if sys.argv[1] == "sdk-tour":
        print(json.dumps(tour()))
    elif sys.argv[1] == "leave":
        print(json.dumps(leave(sys.argv[3])))
    elif sys.argv[1] == "twice":
        print(json.dumps(twice(sys.argv[3])))
    else:
        print(json.dumps(call(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 0)))
