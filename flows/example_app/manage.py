#!/usr/bin/python3
"""Django's command-line utility for the example app.

Run it with Debian's /usr/bin/python3 (python3-django, python3-djangorestframework,
python3-psycopg2); a python3 found first on PATH may lack them.
"""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_app.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
