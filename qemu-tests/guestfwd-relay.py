#!/usr/bin/env python3
"""One guest TCP connection to a server on 127.0.0.1, for QEMU's `guestfwd=…-cmd:`.

QEMU runs this once per connection the guest opens to the forwarded address, with the
connection on stdin/stdout (a `tcp:` chardev there would be a single stream that a second
HTTP request could not reuse).  Usage: guestfwd-relay.py PORT
"""
import os
import select
import socket
import sys

s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
open_in = True
while True:
    fds = [s] + ([0] if open_in else [])
    r, _, _ = select.select(fds, [], [])
    if 0 in r:
        data = os.read(0, 65536)
        if data:
            s.sendall(data)
        else:
            open_in = False
            s.shutdown(socket.SHUT_WR)
    if s in r:
        data = s.recv(65536)
        if not data:
            break
        os.write(1, data)
