"""A small token API, written as most FastAPI apps are: the database URL is
built with an f-string from host, port, user and password variables, and
logins take an OAuth2 password form and give a bearer token.

Run by tests/fastapi.test with `python3 -m uvicorn app:app`, on nrunner's
private PostgreSQL server, reached over TCP as the variables say."""
import os
import secrets

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy import create_engine, text

HOST = os.environ["DATABASE_HOSTNAME"]
PORT = os.environ["DATABASE_PORT"]
USER = os.environ["DATABASE_USERNAME"]
PASSWORD = os.environ["DATABASE_PASSWORD"]
NAME = os.environ["DATABASE_NAME"]
URL = f"postgresql://{USER}:{PASSWORD}@{HOST}:{PORT}/{NAME}"
# An app that prints its URL: nrunner must redact the password in its log.
print("database:", URL, flush=True)

engine = create_engine(URL, pool_pre_ping=False)
app = FastAPI()
oauth2 = OAuth2PasswordBearer(tokenUrl="/login")
TOKENS = {}


class UserIn(BaseModel):
    username: str
    password: str


class PostIn(BaseModel):
    title: str


def current_user(token: str = Depends(oauth2)):
    user = TOKENS.get(token)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "bad token",
                            headers={"WWW-Authenticate": "Bearer"})
    return user


@app.get("/health")
def health():
    with engine.connect() as c:
        c.execute(text("SELECT 1"))
    return {"ok": True}


@app.post("/users", status_code=201)
def create_user(u: UserIn):
    with engine.begin() as c:
        row = c.execute(text("INSERT INTO users (username, password) VALUES (:u, :p) "
                             "RETURNING id"), {"u": u.username, "p": u.password}).one()
    return {"id": row.id, "username": u.username}


@app.post("/login")
def login(form: OAuth2PasswordRequestForm = Depends()):
    with engine.connect() as c:
        row = c.execute(text("SELECT id, password FROM users WHERE username = :u"),
                        {"u": form.username}).first()
    if row is None or row.password != form.password:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid credentials")
    token = secrets.token_urlsafe(24)
    TOKENS[token] = {"id": row.id, "username": form.username}
    return {"access_token": token, "token_type": "bearer"}


@app.get("/me")
def me(user=Depends(current_user)):
    return user


@app.post("/posts", status_code=201)
def create_post(p: PostIn, user=Depends(current_user)):
    with engine.begin() as c:
        row = c.execute(text("INSERT INTO posts (title, owner_id) VALUES (:t, :o) "
                             "RETURNING id"), {"t": p.title, "o": user["id"]}).one()
    return {"id": row.id, "title": p.title, "owner": user["username"]}


@app.get("/posts/{post_id}")
def read_post(post_id: int, user=Depends(current_user)):
    with engine.connect() as c:
        row = c.execute(text("SELECT id, title, owner_id FROM posts WHERE id = :i"),
                        {"i": post_id}).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such post")
    return {"id": row.id, "title": row.title, "owner_id": row.owner_id}
