"""Live probing of catalog endpoints: ITC's stability check, behind an explicit flag (off by default).

Each endpoint is called once with its parameters' defaults; a non-2xx status, an empty body (or an
empty JSON value) or a body that is not JSON is a failure. The outcome is recorded on the
endpoint as ``probe`` and ``statuscode``; ``catalog.filter_broken`` then drops failing tools.
A build never reaches the network unless the preset turns probing on.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request

logger = logging.getLogger(__name__)


def _request(api: dict) -> urllib.request.Request:
    args = {p["name"]: p["default"] for p in api.get("required_parameters", []) + api.get("optional_parameters", [])
            if p.get("default") not in ("", None)}
    url, method = api["url"], api.get("method", "GET").upper()
    for name in list(args):  # fill {path} parameters
        if "{" + name + "}" in url:
            url = url.replace("{" + name + "}", urllib.parse.quote(str(args.pop(name)), safe=""))
    data = None
    if method in ("GET", "DELETE", "HEAD") and args:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(args)
    elif args:
        data = json.dumps(args).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Accept": "application/json"})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    return req


def probe_endpoint(api: dict, *, timeout: float = 10.0) -> dict:
    """``{"ok", "status", "reason"}`` for one call to ``api``."""
    try:
        with urllib.request.urlopen(_request(api), timeout=timeout) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return {"ok": False, "status": exc.code, "reason": f"HTTP {exc.code}"}
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return {"ok": False, "status": None, "reason": f"no connection ({getattr(exc, 'reason', exc)})"}
    if not 200 <= status < 300:
        return {"ok": False, "status": status, "reason": f"HTTP {status}"}
    if not body.strip():
        return {"ok": False, "status": status, "reason": "empty reply"}
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"ok": False, "status": status, "reason": "reply is not JSON"}
    if value in ({}, [], None, ""):
        return {"ok": False, "status": status, "reason": "empty JSON reply"}
    return {"ok": True, "status": status, "reason": "ok"}


def probe_catalog(tools: list[dict], *, enabled: bool = False, timeout: float = 10.0) -> list[dict]:
    """The tools with each endpoint's probe recorded; unchanged unless ``enabled`` (probing is opt-in)."""
    if not enabled:
        return tools
    out = []
    for tool in tools:
        api_list = []
        for api in tool["api_list"]:
            result = probe_endpoint(api, timeout=timeout)
            if not result["ok"]:
                logger.info("probe %s %s: %s", tool["tool_id"], api["name"], result["reason"])
            status = str(result["status"]) if result["status"] is not None else api.get("statuscode", "")
            api_list.append({**api, "probe": result, "statuscode": status})
        out.append({**tool, "api_list": api_list})
    return out
