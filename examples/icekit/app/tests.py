"""The site's tests, run inside the built image (`manage.py test`): the
deploy stops before anything is pushed when one fails."""
import os
import unittest


class Pages(unittest.TestCase):
    def test_the_site_has_its_pages(self):
        source = open(os.path.join(os.path.dirname(__file__), "site.py")).read()
        for page in ['"/"', '"/about/"', '"/health"']:
            self.assertIn(page, source)

    def test_migrations_are_numbered(self):
        names = sorted(os.listdir(os.path.join(os.path.dirname(__file__), "migrations")))
        self.assertEqual([n[:4] for n in names], [f"{i:04}" for i in range(1, len(names) + 1)])
