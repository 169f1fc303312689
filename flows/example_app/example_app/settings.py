"""Settings of the example app that nrunner's HTTP flow tests run against.

Everything that differs between runs comes from the environment:

  DATABASE_URL   postgresql://user:password@host:port/name; the host may be a
                 percent-encoded Unix-socket directory
                 (postgresql://postgres@%2Fdev%2Fshm%2Fnrunner-pg.abc123:5432/db),
                 or given as ?host=/dir.  When set, it wins over the variables below.
  DB_NAME, DB_USER, DB_PASSWORD, DB_HOST, DB_PORT
                 each falling back to libpq's PGDATABASE, PGUSER, PGPASSWORD,
                 PGHOST, PGPORT.  DB_HOST may be a Unix-socket directory.
  PORT           the port `manage.py serve` listens on (127.0.0.1).
  SECRET_KEY     a fixed development default otherwise.
  DEBUG          off unless set to 1/true/yes/on.
"""
import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent


def _env(environ, *names, default=""):
    """The first of the variables NAMES in environ that is set and not empty."""
    for name in names:
        value = environ.get(name)
        if value:
            return value
    return default


def _database_from_url(url):
    """Django's database fields from a postgresql:// URL, parsed with urllib only.

    urlsplit's .hostname would lower-case the host, which breaks a socket
    directory with capitals in it, so the netloc is taken apart by hand.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("DATABASE_URL: unsupported scheme %r" % parts.scheme)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    if hostport.startswith("["):  # [IPv6]:port
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
    else:
        host, port = hostport, ""
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return {
        "NAME": unquote(parts.path.lstrip("/")) or query.get("dbname", ""),
        "USER": unquote(user) or query.get("user", ""),
        "PASSWORD": unquote(password) or query.get("password", ""),
        "HOST": unquote(host) or query.get("host", ""),
        "PORT": port or query.get("port", ""),
    }


def environ_settings(environ):
    """The settings that come from the environment, by name.

    `manage.py preload` calls it again in each app process it forks, with
    that process's environment, so everything here must be a pure function
    of `environ`."""
    if environ.get("DATABASE_URL"):
        db = _database_from_url(environ["DATABASE_URL"])
    else:
        db = {
            "NAME": _env(environ, "DB_NAME", "PGDATABASE", default="example_app"),
            "USER": _env(environ, "DB_USER", "PGUSER"),
            "PASSWORD": _env(environ, "DB_PASSWORD", "PGPASSWORD"),
            "HOST": _env(environ, "DB_HOST", "PGHOST"),
            "PORT": _env(environ, "DB_PORT", "PGPORT"),
        }
    return {
        "DATABASES": {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                # A connection per request (CONN_MAX_AGE 0): no session
                # outlives a request, so the runner can drop the database
                # right after the app.
                "CONN_MAX_AGE": 0,
                **db,
            }
        },
        "PORT": int(_env(environ, "PORT", default="8000")),
        "SECRET_KEY": _env(
            environ, "SECRET_KEY",
            default="nrunner-example-app-development-key-not-a-secret-3f9c1e7a5b2d4086",
        ),
        "DEBUG": _env(environ, "DEBUG").lower() in ("1", "true", "yes", "on"),
    }


# DATABASES, PORT, SECRET_KEY, DEBUG
globals().update(environ_settings(os.environ))

ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "catalog",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Sets the csrftoken cookie once get_token() has been called (login).
    # DRF views are csrf_exempt here; DRF's SessionAuthentication runs the
    # same check itself for logged-in users.
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "example_app.urls"
WSGI_APPLICATION = "example_app.wsgi.application"

# A throwaway test app: salted MD5 first, because the default PBKDF2 (260,000
# iterations in Django 3.2) costs ~0.2-0.3 s of CPU per login, which would
# dominate the time of every flow that logs in.  Never do this for real users.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_L10N = False
USE_TZ = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "catalog.tokens.BearerAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.AllowAny",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
    ],
    # No pagination: lists are plain JSON arrays.
    "DEFAULT_PAGINATION_CLASS": None,
}
