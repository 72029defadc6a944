#!/usr/bin/env python3
"""Create or check a blob container on Azurite (or any Azure Blob endpoint).

Standard library only; used by tests/run.

    azure_container.py create URL CONTAINER   # 201 Created, or 409 if it exists
    azure_container.py check  URL CONTAINER   # 200 on GET ?restype=container

URL is the account URL, path style, e.g. http://127.0.0.1:10000/devstoreaccount1.
Requests are signed with Shared Key for the account AZURE_ACCOUNT (default
devstoreaccount1) and key AZURE_KEY (default: the well-known emulator key).
Exits 0 on success, 1 (with the response on stderr) otherwise.
"""
import base64
import hashlib
import hmac
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from email.utils import formatdate

EMULATOR_ACCOUNT = "devstoreaccount1"
EMULATOR_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
    "K1SZFPTOtr/KBHBeksoGMGw=="
)
API_VERSION = "2021-08-06"


def request(method, account_url, container, account, key):
    url = urllib.parse.urlsplit(account_url.rstrip("/") + "/" + container)
    query = {"restype": "container"}
    headers = {
        "x-ms-date": formatdate(usegmt=True),
        "x-ms-version": API_VERSION,
    }
    # urllib adds a form Content-Type to any request with a body; send (and
    # sign) an explicit one instead so the signature covers what goes out.
    content_type = "application/octet-stream" if method == "PUT" else ""
    # Shared Key string-to-sign (version 2015-02-21 and later: an empty
    # Content-Length line when the body is empty).
    canonical_headers = "".join(
        f"{k}:{v}\n" for k, v in sorted(headers.items()) if k.startswith("x-ms-")
    )
    canonical_resource = f"/{account}{url.path}" + "".join(
        f"\n{k}:{v}" for k, v in sorted(query.items())
    )
    string_to_sign = (
        f"{method}\n"  # verb
        "\n"  # Content-Encoding
        "\n"  # Content-Language
        "\n"  # Content-Length (empty for 0)
        "\n"  # Content-MD5
        f"{content_type}\n"  # Content-Type
        "\n"  # Date (x-ms-date is used)
        "\n"  # If-Modified-Since
        "\n"  # If-Match
        "\n"  # If-None-Match
        "\n"  # If-Unmodified-Since
        "\n"  # Range
        + canonical_headers
        + canonical_resource
    )
    signature = base64.b64encode(
        hmac.new(
            base64.b64decode(key), string_to_sign.encode("utf-8"), hashlib.sha256
        ).digest()
    ).decode()
    headers["Authorization"] = f"SharedKey {account}:{signature}"
    full_url = urllib.parse.urlunsplit(
        (url.scheme, url.netloc, url.path, urllib.parse.urlencode(query), "")
    )
    data = None
    if method == "PUT":
        data = b""
        headers["Content-Type"] = content_type
    req = urllib.request.Request(full_url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("x-ms-error-code", ""), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("x-ms-error-code", ""), err.read()


def main(argv):
    if len(argv) != 4 or argv[1] not in ("create", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    action, account_url, container = argv[1:]
    account = os.environ.get("AZURE_ACCOUNT", EMULATOR_ACCOUNT)
    key = os.environ.get("AZURE_KEY", EMULATOR_KEY)
    if action == "create":
        status, code, body = request("PUT", account_url, container, account, key)
        ok = status == 201 or (status == 409 and code == "ContainerAlreadyExists")
    else:
        status, code, body = request("GET", account_url, container, account, key)
        ok = status == 200
    if not ok:
        print(
            f"azure_container.py: {action} {account_url}/{container}: HTTP {status} {code}\n"
            + body.decode("utf-8", "replace"),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
