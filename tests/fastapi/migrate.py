"""The schema, built as such apps build it: from the DB_* variables that
nrunner gives a migrate command, with an f-string."""
import os

from sqlalchemy import create_engine, text

env = os.environ
url = (f"postgresql://{env['DB_USER']}:{env['DB_PASSWORD']}@{env['DB_HOST']}:"
       f"{env['DB_PORT']}/{env['DB_NAME']}")
with create_engine(url).begin() as c:
    c.execute(text("CREATE TABLE users (id serial PRIMARY KEY, username text UNIQUE "
                   "NOT NULL, password text NOT NULL)"))
    c.execute(text("CREATE TABLE posts (id serial PRIMARY KEY, title text NOT NULL, "
                   "owner_id int NOT NULL REFERENCES users (id))"))
