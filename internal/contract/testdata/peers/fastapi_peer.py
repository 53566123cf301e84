"""A real FastAPI app whose endpoints have the Occam seed's (001)
signatures, for the differential test of the fastapi example: an OAuth2
form login, a JSON refresh body, and an API key as the `key` query
parameter. FastAPI itself answers every validation error (422).

Usage: python3 fastapi_peer.py
Serves on 127.0.0.1 and a free port, printing "READY <port>" once it
listens. Test use only: the credentials are the seed's demo ones.
"""
import secrets
import socket
from typing import Dict, Optional

import uvicorn
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

USERS = {"username_example": "password_example"}
CLIENTS = {"client_id_example": "client_secret_example"}
API_KEYS = {"key_example": "username_example"}

app = FastAPI()
# refresh token -> {"user": name, "used": bool}
refresh_tokens: Dict[str, dict] = {}


class RefreshTokenRequest(BaseModel):
    refresh_token: str


class AccessAndRefreshTokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str


class AccessTokenResponse(BaseModel):
    access_token: str
    token_type: str


def issue(user: str) -> AccessAndRefreshTokenResponse:
    rt = secrets.token_urlsafe(32)
    refresh_tokens[rt] = {"user": user, "used": False}
    return AccessAndRefreshTokenResponse(access_token=secrets.token_urlsafe(32), refresh_token=rt, token_type="bearer")


@app.post("/auth/access-token", response_model=AccessAndRefreshTokenResponse)
def auth_login(form: OAuth2PasswordRequestForm = Depends()):
    if USERS.get(form.username) != form.password:
        raise HTTPException(status_code=400, detail="Incorrect username or password")
    if form.client_id is not None and CLIENTS.get(form.client_id) != form.client_secret:
        raise HTTPException(status_code=400, detail="Incorrect username or password")
    return issue(form.username)


@app.post("/auth/refresh-token", response_model=AccessAndRefreshTokenResponse)
def auth_refresh(req: RefreshTokenRequest):
    rec = refresh_tokens.get(req.refresh_token)
    if rec is None:
        raise HTTPException(status_code=404, detail="Refresh token does not exist")
    if rec["used"]:
        raise HTTPException(status_code=400, detail="Refresh token expired or is already used")
    rec["used"] = True
    return issue(rec["user"])


@app.get("/auth/access-token", response_model=AccessTokenResponse)
def auth_token_from_key(key: str):
    if key not in API_KEYS:
        raise HTTPException(status_code=400, detail="Invalid API key")
    return AccessTokenResponse(access_token=secrets.token_urlsafe(32), token_type="bearer")


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    print("READY", sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
