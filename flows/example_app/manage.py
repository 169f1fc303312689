#!/usr/bin/python3
"""Django's command-line utility for the example app.

Run it with Debian's /usr/bin/python3 (python3-django, python3-djangorestframework,
python3-psycopg2); a python3 found first on PATH may lack them.
"""
import os
import sys


# Optional imports of Django REST framework, for schemas and the browsable
# API, which this app does not use.  Installed (Debian's python3-coreapi
# comes with python3-djangorestframework), they cost about 0.13 s of every
# start, coreapi with pkg_resources and requests most of it.  None in
# sys.modules makes their import fail, as if they were not installed.
SKIPPED_IMPORTS = ("coreapi", "coreschema", "yaml", "markdown", "pygments")


def main():
    for name in SKIPPED_IMPORTS:
        sys.modules.setdefault(name, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_app.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
