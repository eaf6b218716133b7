#!/usr/bin/env python3
"""RandoPony, reduced to what a deploy can check from outside: its version,
the environment it runs as, and the riders in its database.

Run: python3 randopony.py staging.ini   (serves the ini's [server:main] port)
"""
import configparser
import http.server
import os
import sqlite3
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HEALTHY = True

config = configparser.ConfigParser()
config.read(sys.argv[1])
app = config["app:main"]
with open(os.path.join(HERE, "VERSION")) as f:
    VERSION = f.read().strip()
# The credentials file is the owner's only (0400): reading it proves the
# install step left it where the app looks.
credentials = configparser.ConfigParser()
credentials.read(os.path.join(HERE, "private-credentials.ini"))
assert credentials["credentials"]["admin_password"], "no admin password"


def riders():
    with sqlite3.connect(app["database"]) as db:
        return db.execute("SELECT count(*) FROM riders").fetchone()[0]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            status, body = (200, "ok\n") if HEALTHY else (500, "unhealthy\n")
        elif self.path == "/":
            status = 200
            body = f"randopony {VERSION} ({app['instance']}) riders={riders()}\n"
        else:
            status, body = 404, "not found\n"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        print(f"{self.address_string()} {format % args}", flush=True)


server = http.server.ThreadingHTTPServer(("0.0.0.0", int(config["server:main"]["port"])), Handler)
print(f"randopony {VERSION} ({app['instance']}) on port {server.server_port}", flush=True)
server.serve_forever()
