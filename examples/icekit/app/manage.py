"""The site's management commands, as Django's manage.py names them:

  python3 manage.py test      # tests.py, in the image
  python3 manage.py migrate   # apply migrations/*.sql not applied yet, in order
  python3 manage.py check     # the image's health check: /health answers 200
"""
import os
import sys
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def test(args):
    suite = unittest.defaultTestLoader.discover(HERE, pattern="tests.py")
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)


def migrate(args):
    import psycopg2

    with psycopg2.connect("") as db, db.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS django_migrations (name text PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())")
        cursor.execute("SELECT name FROM django_migrations")
        applied = {row[0] for row in cursor.fetchall()}
        names = sorted(n for n in os.listdir(os.path.join(HERE, "migrations")) if n.endswith(".sql"))
        todo = [n for n in names if n[:-4] not in applied]
        if not todo:
            print("No migrations to apply.")
        for name in todo:
            with open(os.path.join(HERE, "migrations", name)) as f:
                cursor.execute(f.read())
            cursor.execute("INSERT INTO django_migrations (name) VALUES (%s)", (name[:-4],))
            print(f"  Applying {name[:-4]}... OK")


def check(args):
    with urllib.request.urlopen("http://127.0.0.1:8080/health", timeout=2) as answer:
        sys.exit(0 if answer.status == 200 else 1)


commands = {"test": test, "migrate": migrate, "check": check}
if len(sys.argv) < 2 or sys.argv[1] not in commands:
    sys.exit(f"usage: manage.py {'|'.join(commands)}")
commands[sys.argv[1]](sys.argv[2:])
