"""A batch run as a pipeline step does it: requests in, one JSON line per answer out (killed by the resume test)."""

import json
import sys
from pathlib import Path

from builders.llm import ChatRequest, LLMClient, LLMConfig


def main(base_url: str, cache: str, out: str, n: int) -> None:
    config = LLMConfig.from_mapping({
        "cache": cache,
        "endpoints": {"fake": {"base_url": base_url, "max_concurrency": 4, "backoff_base": 0.01}},
        "roles": {"user_simulator": {"endpoint": "fake", "model": "fake-model", "temperature": 0.7, "seed": 1}},
    })
    requests = [ChatRequest(messages=[{"role": "user", "content": f"task {i}"}], prompt_version="sim@1") for i in range(n)]
    with LLMClient(config, progress=False) as client:
        results = client.chat_many_sync("user_simulator", requests)
    with open(out, "w", encoding="utf-8") as fh:
        for r in results:
            fh.write(json.dumps({"item": r.item, "reply": r.to_message().to_dict(), "id": r.response["id"]}) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
