import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from itc.catalog import filter_broken
from itc.probe import probe_catalog
from tests.itc.conftest import make_tool

REPLIES = {"/ok": (200, b'{"temp": 21}'), "/missing": (404, b'{"error": "nope"}'), "/crash": (500, b"oops"),
           "/empty": (200, b""), "/emptyjson": (200, b"{}"), "/html": (200, b"<html>hi</html>")}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?")[0]
        self.server.seen.append(self.path)
        status, body = REPLIES[path]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.seen = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _tool(base: str, name: str) -> dict:
    tool = make_tool(name.strip("/"), "Global", "Data", [(name.strip("/"), "x", ["city"], [])])
    tool["api_list"][0]["url"] = base + name
    tool["api_list"][0]["required_parameters"][0]["default"] = "Paris"
    return tool


def test_probe_records_failures_and_filter_drops_them(server):
    base = f"http://127.0.0.1:{server.server_address[1]}"
    tools = [_tool(base, p) for p in REPLIES]
    assert probe_catalog(tools) is tools and not server.seen  # off by default: no request at all
    probed = {t["tool_id"]: t["api_list"][0] for t in probe_catalog(tools, enabled=True, timeout=5)}
    reasons = {k: v["probe"]["reason"] for k, v in probed.items()}
    assert reasons == {"ok": "ok", "missing": "HTTP 404", "crash": "HTTP 500", "empty": "empty reply",
                       "emptyjson": "empty JSON reply", "html": "reply is not JSON"}
    assert probed["missing"]["statuscode"] == "404" and probed["ok"]["statuscode"] == "200"
    assert "/ok?city=Paris" in server.seen  # defaults are sent as query parameters
    kept = filter_broken([{**t, "api_list": [probed[t["tool_id"]]]} for t in tools])
    assert [t["tool_id"] for t in kept] == ["ok"]


def test_unreachable_endpoint_is_a_failure():
    tool = _tool("http://127.0.0.1:9", "/ok")  # discard port: nothing listens
    [api] = probe_catalog([tool], enabled=True, timeout=2)[0]["api_list"]
    assert not api["probe"]["ok"] and api["probe"]["reason"].startswith("no connection")
