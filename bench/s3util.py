#!/usr/bin/env python3
"""Small S3 helpers for the benchmarks (standard library only, unsigned requests:
moto accepts them).

    s3util.py upload ENDPOINT BUCKET PREFIX DIR [--threads 16]
        PUT every file under DIR as PREFIX/<relative path>; prints "files bytes seconds"
    s3util.py download ENDPOINT BUCKET PREFIX DIR [--threads 16]
        GET every object under PREFIX into DIR (a plain parallel client: a reference
        for what the server can serve); prints "files bytes seconds"
    s3util.py usage ENDPOINT BUCKET [PREFIX]
        prints "objects bytes" under PREFIX
"""

import argparse
import http.client
import os
import queue
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def conn_for(endpoint):
    u = urllib.parse.urlparse(endpoint)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=60)


def list_objects(endpoint, bucket, prefix):
    conn = conn_for(endpoint)
    token = None
    while True:
        q = {"list-type": "2", "prefix": prefix, "max-keys": "1000"}
        if token:
            q["continuation-token"] = token
        conn.request("GET", "/%s?%s" % (bucket, urllib.parse.urlencode(q)))
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            sys.exit("list %s: HTTP %d %s" % (bucket, resp.status, body[:200]))
        root = ET.fromstring(body)
        for c in root.findall(NS + "Contents"):
            yield c.find(NS + "Key").text, int(c.find(NS + "Size").text)
        if root.findtext(NS + "IsTruncated") == "true":
            token = root.findtext(NS + "NextContinuationToken")
        else:
            return


def parallel(jobs, threads, fn, endpoint):
    q = queue.Queue()
    for j in jobs:
        q.put(j)
    errors = []
    total = [0]
    lock = threading.Lock()

    def run():
        conn = conn_for(endpoint)
        while True:
            try:
                j = q.get_nowait()
            except queue.Empty:
                return
            try:
                n = fn(conn, j)
            except Exception as e:  # reconnect once, then give up on this item
                try:
                    conn.close()
                    conn = conn_for(endpoint)
                    n = fn(conn, j)
                except Exception as e2:
                    errors.append("%s: %s / %s" % (j, e, e2))
                    continue
            with lock:
                total[0] += n

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        sys.exit("%d failures, first: %s" % (len(errors), errors[0]))
    return total[0]


def cmd_upload(a):
    files = []
    for dp, _dn, fn in os.walk(a.dir):
        for f in fn:
            p = os.path.join(dp, f)
            files.append((p, os.path.relpath(p, a.dir)))
    prefix = a.prefix.strip("/")

    def put(conn, job):
        path, rel = job
        with open(path, "rb") as f:
            data = f.read()
        key = urllib.parse.quote("%s/%s" % (prefix, rel) if prefix else rel)
        conn.request("PUT", "/%s/%s" % (a.bucket, key), body=data,
                     headers={"Content-Type": "application/octet-stream"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError("PUT %s: HTTP %d" % (key, resp.status))
        return len(data)

    t0 = time.monotonic()
    n = parallel(files, a.threads, put, a.endpoint)
    print("%d %d %.3f" % (len(files), n, time.monotonic() - t0))


def cmd_download(a):
    prefix = a.prefix.strip("/")
    objs = list(list_objects(a.endpoint, a.bucket, prefix + "/" if prefix else ""))

    def get(conn, job):
        key, _size = job
        conn.request("GET", "/%s/%s" % (a.bucket, urllib.parse.quote(key)))
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError("GET %s: HTTP %d" % (key, resp.status))
        rel = key[len(prefix) + 1:] if prefix else key
        dest = os.path.join(a.dir, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
            f.write(data)
        return len(data)

    t0 = time.monotonic()
    n = parallel(objs, a.threads, get, a.endpoint)
    print("%d %d %.3f" % (len(objs), n, time.monotonic() - t0))


def cmd_usage(a):
    n = b = 0
    for _k, size in list_objects(a.endpoint, a.bucket, a.prefix):
        n += 1
        b += size
    print("%d %d" % (n, b))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("upload", "download"):
        p = sub.add_parser(name)
        p.add_argument("endpoint")
        p.add_argument("bucket")
        p.add_argument("prefix")
        p.add_argument("dir")
        p.add_argument("--threads", type=int, default=16)
    u = sub.add_parser("usage")
    u.add_argument("endpoint")
    u.add_argument("bucket")
    u.add_argument("prefix", nargs="?", default="")
    a = ap.parse_args()
    {"upload": cmd_upload, "download": cmd_download, "usage": cmd_usage}[a.cmd](a)


if __name__ == "__main__":
    main()
