"""Users, roles, passwords and access tokens.

- Passwords are hashed with argon2id (``argon2-cffi``) at the costs of the settings
  (``WANGGE_PASSWORD_TIME_COST``, ``…_MEMORY_KIB``, ``…_PARALLELISM``: RFC 9106's low-memory profile);
  only the hash is stored, never the password, and neither is logged. A hash keeps the costs it was
  made with, so it verifies whatever the settings are now; at the next sign-in it is made again with
  the current costs.
- ``POST /auth/token`` (JSON ``{"username", "password"}``) answers a signed token (JWT, HS256) that
  expires after ``settings.token_minutes``; the key is ``settings.secret_key``, else one generated
  once and kept in the store (table ``config``), so every process on the same store accepts it.
  A token carries the user's ``token_generation`` (claim ``gen``), which a password change raises:
  the tokens issued before the change are refused (401, sign in again), those issued after work. It
  also carries the account's ``created_at`` (claim ``acct``, see :func:`account_stamp`), so that a
  deleted user's tokens are refused for a new account of the same name. A role or street change
  needs no new token: every request reads the user's current role and street.
- Roles: ``street_staff`` (one street: sees and proposes only there), ``planner`` (city-wide;
  proposes), ``reviewer`` (approves, rejects, applies), ``admin`` (manages users; applies).
- ``GET /auth/me``; ``POST /users``, ``GET /users``, ``PATCH /users/{name}`` (role, street,
  password) and ``DELETE /users/{name}`` (admin). The last admin cannot be removed or demoted.

>>> hashed = hash_password("correct horse")
>>> hashed.startswith("$argon2id$") and "correct horse" not in hashed
True
>>> password_matches(hashed, "correct horse"), password_matches(hashed, "wrong")
(True, False)
"""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal

import jwt
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from api.errors import AuthenticationError, ConflictError, ForbiddenError, InvalidParameterError, NotFoundError
from api.models import config, users
from api.settings import Settings
from api.store import Store

ROLES = ("street_staff", "planner", "reviewer", "admin")
ALGORITHM = "HS256"
USERNAME = re.compile(r"^[^\s/\\]{1,64}$")
MIN_PASSWORD = 8



@dataclass(frozen=True)
class User:
    username: str
    role: str
    street_code: str | None = None
    #: the ``token_generation`` of the user's row: how many times the password was changed
    generation: int = field(default=0, compare=False)
    #: :func:`account_stamp` of the row's ``created_at``: this account, not an earlier one of the same name
    account: int | None = field(default=None, compare=False)

    def json(self) -> dict:
        return {"username": self.username, "role": self.role, "street_code": self.street_code}

    @classmethod
    def of_row(cls, row) -> User:
        """The user of a row of ``users`` (as a mapping)."""
        return cls(row["username"], row["role"], row["street_code"], row["token_generation"],
                   account_stamp(row["created_at"]))


def account_stamp(created_at: datetime) -> int:
    """An account's ``created_at`` in integer microseconds since the epoch (the claim ``acct``).

    The same on both stores: PostgreSQL answers the instant in the session's time zone, SQLite the
    UTC wall time it was given without the zone (taken as UTC here), both to the microsecond; an
    integer also compares exactly in JSON, where an ISO string would depend on the zone answered.

    >>> account_stamp(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=timezone.utc))
    1000005
    >>> account_stamp(datetime(1970, 1, 1, 8, 0, 1, 5, tzinfo=timezone(timedelta(hours=8))))
    1000005
    >>> account_stamp(datetime(1970, 1, 1, 0, 0, 1, 5))  # SQLite's: UTC without the zone
    1000005
    """
    return (created_at.replace(tzinfo=created_at.tzinfo or timezone.utc) - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def password_hasher(settings: Settings | None = None) -> PasswordHasher:
    """The argon2id hasher with the costs of ``settings`` (default: those of the environment)."""
    s = settings or Settings()
    return _hasher(s.password_time_cost, s.password_memory_kib, s.password_parallelism)


@functools.lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


@functools.lru_cache(maxsize=8)
def _dummy(hasher: PasswordHasher) -> str:
    """A hash of no one's password, checked when the user name is unknown (the same work as a known one)."""
    return hasher.hash("not a password of anyone")


def hash_password(password: str, settings: Settings | None = None) -> str:
    """An argon2id hash of ``password`` (with its own random salt) at the costs of ``settings``."""
    return password_hasher(settings).hash(password)


def password_matches(hashed: str, password: str) -> bool:
    """Whether ``password`` is the one ``hashed`` was made from (at the costs written in the hash)."""
    try:
        return PasswordHasher().verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


# ---- users in the store ----------------------------------------------------------------------------

def add_user(store: Store, username: str, password: str, role: str, street_code: str | None = None, *,
             settings: Settings | None = None) -> User:
    """Create a user, as stored (ConflictError if the name is taken; InvalidParameterError for a bad
    role, name, password or street)."""
    if not USERNAME.match(username or ""):
        raise InvalidParameterError("username: 1–64 characters, no spaces or slashes")
    street_code = _checked_role(store, role, street_code)
    _check_password(password)
    row = {"username": username, "password_hash": hash_password(password, settings), "role": role,
           "street_code": street_code, "created_at": datetime.now(timezone.utc)}
    try:
        with store.transaction(write=True) as conn:
            conn.execute(sa.insert(users).values(**row))
            return _read_user(conn, username)
    except sa.exc.IntegrityError:
        raise ConflictError(f"there is already a user {username!r}") from None


def _checked_role(store: Store, role: str, street_code: str | None) -> str | None:
    """The street code a user of ``role`` keeps (None for the city-wide roles); InvalidParameterError
    for an unknown role, a street_staff user without a known street, or a street for another role."""
    if role not in ROLES:
        raise InvalidParameterError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    if role != "street_staff":
        if street_code:
            raise InvalidParameterError(f"only street_staff users have a street_code (role {role} is city-wide)")
        return None
    if not street_code:
        raise InvalidParameterError("a street_staff user needs a street_code")
    try:
        store.scope(street_code)
    except NotFoundError as e:
        raise InvalidParameterError(f"street_code: {e}") from None
    return street_code


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise InvalidParameterError(f"password: at least {MIN_PASSWORD} characters")


def update_user(store: Store, username: str, *, role: str | None = None, street_code: str | None = None,
                password: str | None = None, settings: Settings | None = None) -> User:
    """Change a user's role, street or password (what is given; a city-wide role drops the street).
    A new password raises the user's ``token_generation``: the tokens issued before it are refused.

    NotFoundError for an unknown user; InvalidParameterError as for :func:`add_user`, or when nothing
    is given; ConflictError when it would leave no admin.
    """
    if role is None and street_code is None and password is None:
        raise InvalidParameterError("nothing to change: give a role, a street_code or a password")
    user = get_user(store, username)
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    changes = {}
    if role is not None or street_code is not None:
        new_role = role or user.role
        street = street_code if street_code is not None else user.street_code if new_role == "street_staff" else None
        changes.update(role=new_role, street_code=_checked_role(store, new_role, street))
    if password is not None:
        _check_password(password)
        changes["password_hash"] = hash_password(password, settings)
        changes["token_generation"] = users.c.token_generation + 1
    with store.transaction(write=True) as conn:
        user = _locked(conn, username)
        if user.role == "admin" and changes.get("role", "admin") != "admin":
            _keep_an_admin(conn, username)
        conn.execute(sa.update(users).where(users.c.username == username).values(**changes))
        return _read_user(conn, username)


def delete_user(store: Store, username: str) -> None:
    """Remove a user (their tokens stop working at once, also for a new user of the same name).
    NotFoundError for an unknown user; ConflictError for the last admin. What they did stays in the
    proposals' history."""
    with store.transaction(write=True) as conn:
        if _locked(conn, username).role == "admin":
            _keep_an_admin(conn, username)
        conn.execute(sa.delete(users).where(users.c.username == username))


def _locked(conn, username: str) -> User:
    """The user ``username``, and on PostgreSQL the admins' rows locked until the transaction ends (so
    that two admins removing each other cannot both succeed; SQLite has one writer at a time and
    ignores FOR UPDATE)."""
    conn.execute(sa.select(users.c.username).where(users.c.role == "admin").with_for_update())
    user = _read_user(conn, username)
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


def _keep_an_admin(conn, username: str) -> None:
    others = conn.execute(sa.select(sa.func.count()).select_from(users)
                          .where(users.c.role == "admin", users.c.username != username)).scalar()
    if not others:
        raise ConflictError(f"{username} is the only admin: make another user admin first")


def get_user(store: Store, username: str) -> User | None:
    with store.transaction() as conn:
        return _read_user(conn, username)


def _read_user(conn, username: str) -> User | None:
    row = conn.execute(sa.select(users).where(users.c.username == username)).mappings().first()
    return User.of_row(row) if row else None


def list_users(store: Store) -> list[User]:
    with store.transaction() as conn:
        rows = conn.execute(sa.select(users).order_by(users.c.username)).mappings().all()
    return [User.of_row(r) for r in rows]


def user_count(store: Store) -> int:
    with store.transaction() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(users)).scalar())


def authenticate(store: Store, username: str, password: str, settings: Settings | None = None) -> User:
    """The user whose password this is; AuthenticationError otherwise (same answer, same work, whether
    the name or the password is wrong). A hash made at other costs than those of ``settings`` is
    made again at these."""
    hasher = password_hasher(settings)
    with store.transaction() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).mappings().first()
    if not password_matches(row["password_hash"] if row else _dummy(hasher), password) or row is None:
        raise AuthenticationError("wrong username or password")
    if hasher.check_needs_rehash(row["password_hash"]):
        with store.transaction(write=True) as conn:
            conn.execute(sa.update(users).where(users.c.username == username,
                                                users.c.password_hash == row["password_hash"])
                         .values(password_hash=hasher.hash(password)))
    return User.of_row(row)


def demo_users(store: Store, street_code: str | None, settings: Settings | None = None) -> list[tuple[User, str]]:
    """One user per role with a random password (the street_staff one for ``street_code``), when
    the store has no users; [] otherwise."""
    if user_count(store):
        return []
    made = []
    for role in ROLES:
        if role == "street_staff" and not street_code:
            continue
        password = secrets.token_urlsafe(12)
        name = "staff" if role == "street_staff" else role
        made.append((add_user(store, name, password, role, street_code if role == "street_staff" else None,
                              settings=settings), password))
    return made


# ---- tokens ------------------------------------------------------------------------------------------

def signing_key(store: Store, settings: Settings) -> str:
    """``settings.secret_key``, else the key kept in the store (generated on first use)."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value()
    with store.transaction() as conn:
        value = conn.execute(sa.select(config.c.value).where(config.c.key == "secret_key")).scalar()
    if value:
        return value
    try:
        with store.transaction(write=True) as conn:
            conn.execute(sa.insert(config).values(key="secret_key", value=secrets.token_urlsafe(48)))
    except sa.exc.IntegrityError:
        pass  # another process made it first: use theirs
    with store.transaction() as conn:
        return conn.execute(sa.select(config.c.value).where(config.c.key == "secret_key")).scalar()


def issue_token(user: User, key: str, minutes: int) -> str:
    """A token for ``user`` (as read from the store), valid ``minutes``, until their password changes
    (claim ``gen``) and for their account only (claim ``acct``: not for a later one of the same name)."""
    now = datetime.now(timezone.utc)
    claims = {"sub": user.username, "role": user.role, "street": user.street_code, "gen": user.generation,
              "iat": now, "exp": now + timedelta(minutes=minutes)}
    if user.account is not None:
        claims["acct"] = user.account
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def user_of_token(store: Store, key: str, token: str) -> User:
    """The user a valid token names (their current role and street); AuthenticationError otherwise,
    also when the token is of a deleted account and the name is now another's (its ``acct`` is not
    this account's), or when the password changed after the token was issued (its ``gen`` is not
    theirs now; a token without one was issued before generations were counted, at generation 0).
    A token without ``acct`` was issued before accounts were told apart: it names the user by name
    alone until it expires."""
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise AuthenticationError("the token has expired: sign in again (POST /auth/token)") from None
    except jwt.InvalidTokenError:
        raise AuthenticationError("invalid token") from None
    user = get_user(store, str(claims["sub"]))
    if user is None:
        raise AuthenticationError("the token's user no longer exists")
    if "acct" in claims and claims["acct"] != user.account:
        raise AuthenticationError("this token belongs to an account that was deleted: "
                                  "sign in again (POST /auth/token)")
    if claims.get("gen", 0) != user.generation:
        raise AuthenticationError("the password was changed after this token was issued: "
                                  "sign in again (POST /auth/token)")
    return user


# ---- FastAPI dependencies -------------------------------------------------------------------------------

bearer = HTTPBearer(auto_error=False, description="a token from POST /auth/token")


def optional_user(request: Request,
                  credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> User | None:
    """The user of the request's bearer token; None without a token; 401 for a bad one."""
    if request.headers.get("authorization") and credentials is None:
        raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
    if credentials is None:
        return None
    return user_of_token(request.app.state.store, request.app.state.signing_key, credentials.credentials)


def reader(request: Request, user: User | None = Depends(optional_user)) -> User | None:
    """Read endpoints: a signed-in user, or nobody when ``settings.public_read`` (the whole city)."""
    if user is None and not request.app.state.settings.public_read:
        raise AuthenticationError("sign in first: POST /auth/token, then send 'Authorization: Bearer <token>'")
    return user


def signed_in(user: User | None = Depends(optional_user)) -> User:
    if user is None:
        raise AuthenticationError("sign in first: POST /auth/token, then send 'Authorization: Bearer <token>'")
    return user


def role(*allowed: str):
    """A dependency: the signed-in user, 403 unless their role is one of ``allowed``."""

    def check(user: User = Depends(signed_in)) -> User:
        if user.role not in allowed:
            raise ForbiddenError(f"this needs the role {' or '.join(allowed)} (you are {user.role})")
        return user

    return check


def scope_of(request: Request, user: User | None, version: int | None = None):
    """The :class:`api.store.Scope` limiting what ``user`` sees (None: the whole city)."""
    if user is None or user.role != "street_staff":
        return None
    return request.app.state.store.scope(user.street_code, version)


# ---- routes -------------------------------------------------------------------------------------------

class Credentials(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class NewUser(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1000)
    role: Literal["street_staff", "planner", "reviewer", "admin"]
    street_code: str | None = Field(None, max_length=100)


class UserChange(BaseModel):
    """What to change (what is left out stays; a city-wide role drops the street)."""

    role: Literal["street_staff", "planner", "reviewer", "admin"] | None = None
    street_code: str | None = Field(None, max_length=100)
    password: str | None = Field(None, max_length=1000)


def router(settings: Settings) -> APIRouter:
    api = APIRouter(tags=["auth"])

    @api.post("/auth/token", summary="Sign in: a bearer token for the other endpoints")
    def token(request: Request, body: Credentials):
        store = request.app.state.store
        user = authenticate(store, body.username, body.password, settings)
        return {"access_token": issue_token(user, request.app.state.signing_key, settings.token_minutes),
                "token_type": "bearer", "expires_in": settings.token_minutes * 60, "user": user.json()}

    @api.get("/auth/me", summary="The signed-in user")
    def me(user: User = Depends(signed_in)):
        return user.json()

    @api.post("/users", status_code=201, summary="Create a user (admin)")
    def create_user(request: Request, body: NewUser, admin: User = Depends(role("admin"))):
        return add_user(request.app.state.store, body.username, body.password, body.role, body.street_code,
                        settings=settings).json()

    @api.get("/users", summary="All users (admin)")
    def all_users(request: Request, admin: User = Depends(role("admin"))):
        return {"users": [u.json() for u in list_users(request.app.state.store)]}

    @api.patch("/users/{username}", summary="Change a user's role, street or password (admin)")
    def change_user(request: Request, username: str, body: UserChange, admin: User = Depends(role("admin"))):
        return update_user(request.app.state.store, username, role=body.role, street_code=body.street_code,
                           password=body.password, settings=settings).json()

    @api.delete("/users/{username}", status_code=204, summary="Remove a user (admin)")
    def remove_user(request: Request, username: str, admin: User = Depends(role("admin"))):
        delete_user(request.app.state.store, username)
        return Response(status_code=204)

    return api
