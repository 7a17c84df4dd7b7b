#!/usr/bin/env python3
"""The S3 endpoint, measured as clients see it, on the local stack (moto).

An import of BENCH_SERVE_OBJECTS objects (default 1,000,000), one of a single 64 MiB
object and one of 500 small objects, then `inventory-import serve` (release build) and
`inventory-import dev bench-serve`, a client of the AWS SDK for Rust, which measures:

1. ListObjectsV2 keys/s through the endpoint over every imported key, 1,000-key
   pages; and the first BENCH_SERVE_DIRECT keys (default 20,000) listed through the
   endpoint beside the same keys written into a bucket of moto and listed there.
2. HeadObject median and 99th-percentile latency with a warm cache (random keys,
   one request at a time).
3. GetObject MB/s of the 64 MiB imported object through the endpoint beside reading
   it from moto directly (best of 3 each).
4. A load of 32 concurrent clients for 30 s (BENCH_SERVE_LOAD_SECONDS), each in a loop:
   a 1,000-key page of the large import from a random key, HeadObject of a random key,
   GetObject of one of 500 small imported objects; requests/s, errors, and the
   server's peak RSS.

Writes bench/serve.json and adds it to bench/results.json under "serve".
"""

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(os.environ.get("BENCH_BINARY", ROOT / "target" / "release" / "inventory-import"))
VENV_BIN = ROOT / ".venv" / "bin"
OBJECTS = int(os.environ.get("BENCH_SERVE_OBJECTS", "1000000"))
DIRECT = int(os.environ.get("BENCH_SERVE_DIRECT", "20000"))
LOAD_SECONDS = int(os.environ.get("BENCH_SERVE_LOAD_SECONDS", "30"))
LARGE_BYTES = 64 * 1024 * 1024
SMALL = 500


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    port = free_port()
    logs = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    moto = subprocess.Popen([str(VENV_BIN / "python"), str(ROOT / "scripts/moto-server.py"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=open(logs / "moto.log", "w"), stderr=subprocess.STDOUT)
    env = dict(os.environ, AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
               SECRETS_SEALING_KEY=base64.b64encode(secrets.token_bytes(32)).decode())
    env.pop("AWS_PROFILE", None)
    env.pop("SECRETS_KMS_KEY_ID", None)

    def cli(*args):
        out = subprocess.run([str(CLI), *args, "--json"], env=env, check=True, capture_output=True, text=True)
        return json.loads(out.stdout) if out.stdout.strip() else None

    server = None
    try:
        wait_for(port)
        import boto3

        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        for bucket in ("bench-inventory", "bench-catalog"):
            s3.create_bucket(Bucket=bucket)
        cli("dev", "init", "--inventory-bucket", "bench-inventory")
        for repo, source in (("bench", "bench-source"), ("large", "bench-large"), ("small", "bench-small")):
            cli("repo", "create", repo, f"s3://bench-catalog/{repo}")
            cli("source", "add", repo, "--inventory", f"s3://bench-inventory/inv/{source}/daily/")
        print(f"Importing {OBJECTS:,} objects and one of {LARGE_BYTES // 2**20} MiB on moto ...", flush=True)
        started = time.perf_counter()
        cli("dev", "generate-inventory", "--destination", "s3://bench-inventory/inv", "--source-bucket",
            "bench-source", "--objects", str(OBJECTS), "--files", "4", "--created-at", "2026-11-25T01:00:00Z")
        cli("dev", "generate-inventory", "--destination", "s3://bench-inventory/inv", "--source-bucket",
            "bench-large", "--objects", "1", "--files", "1", "--write-objects", "--object-bytes",
            str(LARGE_BYTES), "--created-at", "2026-11-25T01:00:00Z")
        cli("dev", "generate-inventory", "--destination", "s3://bench-inventory/inv", "--source-bucket",
            "bench-small", "--objects", str(SMALL), "--files", "1", "--write-objects",
            "--created-at", "2026-11-25T01:00:00Z")
        cli("local", "--until-idle")
        print(f"  imported in {time.perf_counter() - started:.0f} s", flush=True)
        large = cli("ls", "large", "import-from-inventory", "--recursive")["entries"][0]
        if large["size"] < LARGE_BYTES:
            raise RuntimeError(f"the large object has {large['size']} bytes")
        key = cli("credentials", "create", "--description", "bench")
        serve_port = free_port()
        server = subprocess.Popen([str(CLI), "serve", "--listen", f"127.0.0.1:{serve_port}"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=open(logs / "serve.log", "w"))
        wait_for(serve_port)
        bench_env = dict(env, BENCH_KEY_ID=key["access_key_id"], BENCH_SECRET=key["secret_access_key"])
        out = subprocess.run(
            [str(CLI), "dev", "bench-serve", "--endpoint", f"http://127.0.0.1:{serve_port}",
             "--repository", "bench", "--reference", "import-from-inventory", "--direct-keys", str(DIRECT),
             "--large", f"large/import-from-inventory/{large['path']}",
             "--large-direct", f"s3://bench-large/{large['path']}",
             "--load-clients", "32", "--load-seconds", str(LOAD_SECONDS),
             "--load-reads", "small/import-from-inventory"],
            env=bench_env, check=True, stdout=subprocess.PIPE, text=True)
        report = json.loads(out.stdout)
        report["serve_peak_rss_bytes"] = peak_rss(server.pid)
        report["objects"] = OBJECTS
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        moto.terminate()
        moto.wait()

    lst, same, direct = report["list"], report.get("list_same_keys"), report.get("list_direct")
    head, get, load = report["head"], report["get"], report["load"]
    print()
    print(f"ListObjectsV2 through the endpoint: {lst['keys']:,} keys in {lst['seconds']:.1f} s, "
          f"{lst['keys_per_second']:,.0f} keys/s")
    if same and direct:
        print(f"  the same {direct['keys']:,} keys: endpoint {same['keys_per_second']:,.0f} keys/s, "
              f"moto {direct['keys_per_second']:,.0f} keys/s: "
              f"{same['keys_per_second'] / direct['keys_per_second']:.1f}x (target >= 10x)")
    print(f"HeadObject, warm cache, {head['requests']:,} requests: median {head['median_ms']:.2f} ms, "
          f"p99 {head['p99_ms']:.2f} ms (target < 5 ms)")
    print(f"GetObject of {get['endpoint']['bytes'] / 2**20:.0f} MiB: endpoint {get['endpoint']['mb_per_second']:,.0f} MB/s, "
          f"moto directly {get['direct']['mb_per_second']:,.0f} MB/s: "
          f"{100 * get['endpoint']['mb_per_second'] / get['direct']['mb_per_second']:.1f} % (target >= 80 %)")
    print(f"Load, {load['clients']} clients for {load['seconds']:.0f} s: {load['requests_per_second']:,.0f} requests/s "
          f"({load['lists']:,} lists, {load['heads']:,} heads, {load['gets']:,} gets), {load['errors']} errors; "
          f"serve's peak RSS {report['serve_peak_rss_bytes'] / 2**20:,.0f} MiB")
    (ROOT / "bench").mkdir(exist_ok=True)
    (ROOT / "bench" / "serve.json").write_text(json.dumps(report, indent=2))
    results = ROOT / "bench" / "results.json"
    merged = json.loads(results.read_text()) if results.exists() else {}
    merged["serve"] = report
    results.write_text(json.dumps(merged, indent=2))
    if load["errors"]:
        print(f"the load had errors: {load['first_errors']}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
