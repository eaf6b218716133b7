#!/usr/bin/env python3
"""Creates RandoPony's tables and the rows the app needs (the guide's
`initialize_RandoPony_db`).

Run: python3 initialize_db.py staging.ini
"""
import configparser
import sqlite3
import sys

config = configparser.ConfigParser()
config.read(sys.argv[1])
with sqlite3.connect(config["app:main"]["database"]) as db:
    db.execute("CREATE TABLE riders (name TEXT NOT NULL)")
    db.execute("CREATE TABLE links (key TEXT PRIMARY KEY, url TEXT NOT NULL)")
    db.execute("INSERT INTO links VALUES ('results', 'https://randonneurs.bc.ca/results/')")
print("initialized", config["app:main"]["database"])
