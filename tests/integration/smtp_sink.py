# SPDX-License-Identifier: MIT
"""A real SMTP server on loopback (aiosmtpd) that keeps every message.

usage: /usr/bin/python3 smtp_sink.py PORT DIR [reject | tls-auth CERT KEY USER:PASS]
Each accepted message is written to DIR/<n>.eml with DIR/<n>.json holding
the envelope (and, with tls-auth, the login and whether it came over
TLS). With "reject", every message is answered 554. With "tls-auth", the
server offers STARTTLS with CERT/KEY and requires it, then requires AUTH
as USER with PASS, as mail relays do. Prints "ready" once listening;
stops on SIGTERM.
"""
import json
import os
import signal
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


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
            json.dump({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                       "login": session.auth_data if session.authenticated else None,
                       "tls": session.ssl is not None}, f)
        os.rename(base + ".tmp", base + ".eml")
        return "250 OK kept"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    mode = sys.argv[3] if len(sys.argv) > 3 else ""
    os.makedirs(directory, exist_ok=True)
    kw = {}
    if mode in ("tls-auth", "tls-auth-silent"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
        user, password = sys.argv[6].split(":", 1)

        def check(server, session, envelope, mechanism, auth_data):
            if mode == "tls-auth-silent":
                # After STARTTLS and the AUTH command: never a reply
                # (the whole server stops answering).
                time.sleep(3600)
            ok = (auth_data.login.decode(), auth_data.password.decode()) == (user, password)
            # handled=False: aiosmtpd then answers 535 itself
            return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

        kw = {"tls_context": ctx, "require_starttls": True, "auth_require_tls": True,
              "authenticator": check, "auth_required": True}
    ctl = Controller(Keep(directory, mode == "reject"), hostname="127.0.0.1", port=port,
                     server_hostname="localhost", **kw)
    ctl.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    print("ready", flush=True)
    done.wait()
    if mode == "tls-auth-silent":
        os._exit(0)  # its loop is asleep in the authenticator
    ctl.stop()


if __name__ == "__main__":
    main()
