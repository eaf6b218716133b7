"""djangopackages, reduced: `/` answers the version and how many packages
the database holds, `/health` 200 (500 when the `unhealthy` file is in the
image). Run: python3 app.py (port 8080; PGHOST, PGUSER, PGDATABASE)."""
import http.server
import os

import psycopg2

VERSION = os.environ.get("VERSION", "dev")
HEALTHY = not os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "unhealthy"))


def packages():
    try:
        with psycopg2.connect("") as db, db.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM packages")
            return cursor.fetchone()[0]
    except psycopg2.Error:
        return 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/health":
            status, body = (200, "ok\n") if HEALTHY else (500, "unhealthy\n")
        else:
            status, body = 200, f"djangopackages {VERSION} packages={packages()}\n"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        print(f"{self.address_string()} {format % args}", flush=True)


print(f"djangopackages {VERSION} on port 8080", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
