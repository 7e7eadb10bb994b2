# SPDX-License-Identifier: MIT
"""A real SMTP server on loopback (aiosmtpd) that keeps every message.

usage: /usr/bin/python3 smtp_sink.py PORT DIR [reject]
Each accepted message is written to DIR/<n>.eml with DIR/<n>.json holding
the envelope. With "reject", every message is answered 554. Prints
"ready" once listening; stops on SIGTERM.
"""
import json
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Keep:
    def __init__(self, directory, reject):
        self.dir = directory
        self.reject = reject
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        if self.reject:
            return "554 5.7.1 rejected for the test"
        self.n += 1
        base = os.path.join(self.dir, "%04d" % self.n)
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".json", "w") as f:
            json.dump({"from": envelope.mail_from, "to": envelope.rcpt_tos}, f)
        os.rename(base + ".tmp", base + ".eml")
        return "250 OK kept"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    reject = len(sys.argv) > 3 and sys.argv[3] == "reject"
    os.makedirs(directory, exist_ok=True)
    ctl = Controller(Keep(directory, reject), hostname="127.0.0.1", port=port)
    ctl.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    print("ready", flush=True)
    done.wait()
    ctl.stop()


if __name__ == "__main__":
    main()
