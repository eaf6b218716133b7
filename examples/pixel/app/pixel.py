"""Pixel, reduced: `/` answers the version and how many pixels the
database holds (0 before `manage.py migrate` made the table), `/health`
answers 200 (500 in an image built with BROKEN=1).

Run: python3 pixel.py   (port 8000; PGHOST, PGUSER, PGDATABASE name the database)
"""
import http.server
import os

import psycopg2

VERSION = os.environ.get("VERSION", "dev")
BROKEN = os.environ.get("PIXEL_BROKEN") == "1"


def pixels():
    try:
        with psycopg2.connect("") as db, db.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pixels")
            return cursor.fetchone()[0]
    except psycopg2.Error:
        return 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            status, body = (500, "broken\n") if BROKEN else (200, "ok\n")
        elif self.path == "/":
            status, body = 200, f"pixel {VERSION} pixels={pixels()}\n"
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


print(f"pixel {VERSION} on port 8000", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
