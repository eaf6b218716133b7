"""Pixel's management commands, as Django's manage.py names them:

  python3 manage.py collectstatic --noinput --clear   # static/ into /app/public/static (the proxy serves it)
  python3 manage.py migrate                           # apply migrations/*.sql not applied yet, in order
  python3 manage.py check                             # the image's health check: /health answers 200
"""
import os
import shutil
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def collectstatic(args):
    target = "/app/public/static"
    if "--clear" in args and os.path.isdir(target):
        shutil.rmtree(target)
    shutil.copytree(os.path.join(HERE, "static"), target, dirs_exist_ok=True)
    with open(os.path.join(target, "version.txt"), "w") as f:
        f.write(os.environ.get("VERSION", "dev") + "\n")
    print(f"{len(os.listdir(target))} static files copied to '{target}'.")


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
    with urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=2) as answer:
        sys.exit(0 if answer.status == 200 else 1)


commands = {"collectstatic": collectstatic, "migrate": migrate, "check": check}
if len(sys.argv) < 2 or sys.argv[1] not in commands:
    sys.exit(f"usage: manage.py {'|'.join(commands)}")
commands[sys.argv[1]](sys.argv[2:])
