#!/usr/bin/env python3
"""The fleet's report receiver (docs/pxe.md, "Reports"): nginx passes POST /report here.

  fleet-collector.py --listen 127.0.0.1:8081 --reports DIR --boot DIR --local FILE \
      --local-grub FILE

Every body is kept as DIR/NNNN.json in arrival order. An install report with
"result": "ok" flips boot/<mac>.ipxe of each of the machine's MACs to a copy of FILE
(boot the disk), and boot/<mac>.cfg (the same for UEFI clients' signed GRUB) to a copy
of the --local-grub FILE, so the machine's next network boot never reinstalls it; that is what a
fleet server does with the report, and the switch the tests check.
"""

import argparse
import http.server
import json
import os
import shutil
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--reports", required=True)
    ap.add_argument("--boot", required=True)
    ap.add_argument("--local", required=True)
    ap.add_argument("--local-grub", required=True)
    args = ap.parse_args()
    os.makedirs(args.reports, exist_ok=True)
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                doc = json.loads(body)
            except ValueError:
                self.send_response(400)
                self.end_headers()
                return
            with lock:
                n = len(os.listdir(args.reports))
                with open(os.path.join(args.reports, f"{n:04d}.json"), "wb") as f:
                    f.write(body)
                if doc.get("event") == "install" and doc.get("result") == "ok":
                    for mac in doc.get("machine", {}).get("macs", []):
                        for ext, local in (("ipxe", args.local), ("cfg", args.local_grub)):
                            target = os.path.join(args.boot, f"{mac.lower()}.{ext}")
                            if os.path.exists(target):
                                shutil.copy(local, target + ".new")
                                os.replace(target + ".new", target)
            self.send_response(204)
            self.end_headers()

        def log_message(self, fmt, *a):
            pass

    host, port = args.listen.rsplit(":", 1)
    http.server.ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
