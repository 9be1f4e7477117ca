"""A tiny OpenAI-compatible server on 127.0.0.1 for tests (stdlib only, background thread).

Endpoints: POST /v1/chat/completions and /v1/completions.  Each sample's text is
"<prompt-or-last-user-message> #<k>" where k counts samples served by this server, so
samples are distinct and traceable.  Knobs (attributes, change them between requests):

- ignore_n: answer one choice whatever n was asked (as llama.cpp's server does)
- fail_times, fail_status: the next `fail_times` requests fail with `fail_status`
- delay_s: sleep before answering (with delay_times: only the next delay_times requests)
- reject_status: every request fails with this 4xx status
- context_tokens: a request whose prompt words plus max_tokens exceed it is refused with
  HTTP 400, worded as `context_style` says: "vllm" (its top-level error object),
  "openai" (nested, code context_length_exceeded) or "llamacpp" (lengths as fields)

`requests` holds every JSON body received (failed ones included).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.ignore_n = False
        self.fail_times = 0
        self.fail_status = 500
        self.reject_status: int | None = None
        self.context_tokens: int | None = None
        self.context_style = "vllm"
        self.delay_s = 0.0
        self.delay_times: int | None = None
        self.retry_after: str | None = None
        self.samples = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                status, payload, headers = fake._answer(self.path, body)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _context_refusal(self, prompt: int, wanted: int) -> dict[str, Any]:
        limit = self.context_tokens
        if self.context_style == "openai":
            message = (
                f"This model's maximum context length is {limit} tokens. However, your "
                f"messages resulted in {prompt} tokens. Please reduce the length of the messages."
            )
            return {
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "context_length_exceeded",
                }
            }
        if self.context_style == "llamacpp":
            return {
                "error": {
                    "code": 400,
                    "message": "the request exceeds the available context size, try increasing it",
                    "type": "exceed_context_size_error",
                    "n_prompt_tokens": prompt,
                    "n_ctx": limit,
                }
            }
        message = (
            f"This model's maximum context length is {limit} tokens. However, you requested "
            f"{prompt + wanted} tokens ({prompt} in the messages, {wanted} in the completion). "
            "Please reduce the length of the messages or completion."
        )
        return {"object": "error", "message": message, "type": "BadRequestError", "code": 400}

    def _answer(self, path: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.requests.append(body)
            self.paths.append(path)
            delay = 0.0
            if self.delay_s and (self.delay_times is None or self.delay_times > 0):
                delay = self.delay_s
                if self.delay_times is not None:
                    self.delay_times -= 1
            failing = self.fail_times > 0
            if failing:
                self.fail_times -= 1
        if delay:
            time.sleep(delay)
        if self.reject_status is not None:
            return self.reject_status, {"error": {"message": "bad request", "type": "x"}}, {}
        if failing:
            headers = {"retry-after": self.retry_after} if self.retry_after else {}
            return self.fail_status, {"error": {"message": "overloaded", "type": "x"}}, headers
        chat = path.endswith("/chat/completions")
        if not chat and not path.endswith("/completions"):
            return 404, {"error": {"message": f"no route {path}"}}, {}
        if chat:
            users = [m["content"] for m in body["messages"] if m["role"] == "user"]
            source = users[-1] if users else ""
        else:
            source = body["prompt"]
        if self.context_tokens is not None:
            wanted = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
            prompt = len(source.split())
            if prompt + wanted > self.context_tokens:
                return 400, self._context_refusal(prompt, wanted), {}
        n = 1 if self.ignore_n else int(body.get("n", 1))
        choices = []
        with self._lock:
            first = self.samples
            self.samples += n
        for i in range(n):
            text = f"{source} #{first + i}"
            for stop in body.get("stop") or []:
                if stop in text:
                    text = text[: text.index(stop)]
            if chat:
                choices.append(
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                )
            else:
                choices.append({"index": i, "text": text, "finish_reason": "length"})
        prompt_tokens = len(source.split())
        completion_tokens = sum(
            len(c.get("text", c.get("message", {}).get("content", "")).split()) for c in choices
        )
        payload = {
            "id": "cmpl-fake",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return 200, payload, {}
