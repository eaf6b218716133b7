"""The site, reduced: its key pages `/` (the version and how many articles
the database holds) and `/about/`, and `/health` (200 unless the
`unhealthy` file is in the image).

Run: python3 site.py   (port 8080; PGHOST, PGUSER, PGDATABASE name the database)
"""
import http.server
import os

import psycopg2

VERSION = os.environ.get("VERSION", "dev")
HERE = os.path.dirname(os.path.abspath(__file__))
HEALTHY = not os.path.exists(os.path.join(HERE, "unhealthy"))


def articles():
    try:
        with psycopg2.connect("") as db, db.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM articles")
            return cursor.fetchone()[0]
    except psycopg2.Error:
        return 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            status, body = (200, "ok\n") if HEALTHY else (500, "unhealthy\n")
        elif self.path == "/":
            status, body = 200, f"icekit {VERSION} articles={articles()}\n"
        elif self.path == "/about/":
            status, body = 200, f"About this site ({os.environ.get('SITE_DOMAIN', 'localhost')})\n"
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


print(f"icekit {VERSION} on port 8080", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
