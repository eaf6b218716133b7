"""  python3 manage.py migrate   # apply migrations/*.sql not applied yet, in order
  python3 manage.py check     # the image's health check: /health answers 200"""
import os
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))

if sys.argv[1:] == ["migrate"]:
    import psycopg2

    with psycopg2.connect("") as db, db.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS django_migrations (name text PRIMARY KEY)")
        cursor.execute("SELECT name FROM django_migrations")
        applied = {row[0] for row in cursor.fetchall()}
        for name in sorted(os.listdir(os.path.join(HERE, "migrations"))):
            if name[:-4] not in applied:
                with open(os.path.join(HERE, "migrations", name)) as f:
                    cursor.execute(f.read())
                cursor.execute("INSERT INTO django_migrations VALUES (%s)", (name[:-4],))
                print(f"  Applying {name[:-4]}... OK")
elif sys.argv[1:] == ["check"]:
    with urllib.request.urlopen("http://127.0.0.1:8080/health", timeout=2) as answer:
        sys.exit(0 if answer.status == 200 else 1)
else:
    sys.exit("usage: manage.py migrate|check")
