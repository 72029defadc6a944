"""Drives `pail mcp` with the official Python MCP client over stdio (tests/it/mcp.rs runs it).

Usage: python mcp_client.py CONFIG.json

CONFIG: {"command": PAIL, "args": ["mcp"], "cwd": DIR, "env": {...},
         "calls": [[TOOL, ARGS], ...], "commit": [ARG, ...]}  ("commit" is optional)

Runs, in one session: initialize, tools/list, every call in "calls", resources/list and
resources/read of the first resource, then `PAIL <commit args>` as a separate process
while the server is still up, then list_datasets again. Prints one JSON report on stdout;
the Rust test makes the assertions.

Each call reports its text, its structured content, its size in bytes (text plus
structured content as compact JSON, UTF-8) and `schema_errors`: what jsonschema finds
wrong with the structured content against the tool's declared output schema (the client
also validates it, and a failure there is reported as `client_error`).
"""

import json
import subprocess
import sys

import anyio
import jsonschema
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def dump(model):
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


def tool_result(result, output_schema=None):
    data = dump(result)
    texts = [block.get("text", "") for block in data.get("content", [])]
    text = "\n".join(texts)
    structured = data.get("structuredContent")
    size = len(text.encode("utf-8"))
    if structured is not None:
        compact = json.dumps(structured, separators=(",", ":"), ensure_ascii=False)
        size += len(compact.encode("utf-8"))
    schema_errors = []
    if output_schema is not None and structured is not None:
        validator = jsonschema.validators.validator_for(output_schema)(output_schema)
        schema_errors = [
            f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(structured)
        ]
    return {
        "is_error": bool(data.get("isError", False)),
        "text": text,
        "structured": structured,
        "bytes": size,
        "schema_errors": schema_errors,
    }


async def main(config):
    params = StdioServerParameters(
        command=config["command"],
        args=config["args"],
        cwd=config["cwd"],
        env=config["env"],
    )
    report = {}
    with anyio.fail_after(120):
        async with stdio_client(params) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                report["initialize"] = dump(init)
                tools = await session.list_tools()
                report["tools"] = [dump(tool) for tool in tools.tools]
                schemas = {tool["name"]: tool.get("outputSchema") for tool in report["tools"]}
                report["calls"] = []
                for name, args in config["calls"]:
                    try:
                        result = await session.call_tool(name, args)
                    except Exception as error:  # the client's own validation, say
                        report["calls"].append(
                            {"tool": name, "args": args, "client_error": repr(error)}
                        )
                        continue
                    answer = tool_result(result, schemas.get(name))
                    report["calls"].append({"tool": name, "args": args, **answer})
                resources = await session.list_resources()
                report["resources"] = [dump(resource) for resource in resources.resources]
                if resources.resources:
                    uri = str(resources.resources[0].uri)
                    read_result = await session.read_resource(uri)
                    report["read_resource"] = dump(read_result)
                if "commit" in config:
                    # Another pail command while the server is up must not wait for it.
                    commit = subprocess.run(
                        [config["command"], *config["commit"]],
                        cwd=config["cwd"],
                        env=config["env"],
                        capture_output=True,
                        text=True,
                        timeout=60,
                    )
                    report["commit"] = {
                        "code": commit.returncode,
                        "stdout": commit.stdout,
                        "stderr": commit.stderr,
                    }
                    after = await session.call_tool("list_datasets", {})
                    report["after_commit"] = tool_result(after)
    print(json.dumps(report))


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as file:
        anyio.run(main, json.load(file))
