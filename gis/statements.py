"""SQL statements: the one loader of the ``gis/sql/*.sql`` files, the one helper that puts
identifiers into SQL (values are always bound parameters), and server-side prepared statements
for the hot paths."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import psycopg2
from sqlalchemy import TextClause, text
from sqlalchemy.exc import DBAPIError

from gis.errors import InvalidInput

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

#: a caller's reach as a WHERE fragment and its bound values (built by
#: gis.access.principal.area_condition); listings and reads AND it in, so no filter widens it
Scope = tuple[str, dict]
UNSCOPED: Scope = ("TRUE", {})
SQL_DIR = Path(__file__).resolve().parent / "sql"


@functools.cache
def load(name: str) -> str:
    """The text of ``gis/sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


@functools.cache
def query(name: str) -> TextClause:
    """``gis/sql/<name>.sql`` as a statement, built once so SQLAlchemy's compiled cache is hit."""
    return text(load(name))


@functools.cache
def named(name: str) -> dict[str, str]:
    """The statements of a file of several, each after a ``-- name: NAME`` line."""
    out: dict[str, str] = {}
    for block in load(name).split("-- name: ")[1:]:
        head, body = block.split("\n", 1)
        out[head.strip()] = body
    return out


def ident(name: str) -> str:
    """Quote a possibly schema-qualified table name, refusing anything but plain identifiers.

    >>> ident("public.cases")
    '"public"."cases"'
    >>> ident("x; drop table grid")
    Traceback (most recent call last):
    ...
    gis.errors.InvalidInput: not a plain table name: 'x; drop table grid'
    """
    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or not all(_NAME.match(p) for p in parts):
        raise InvalidInput(f"not a plain table name: {name!r}", field="table")
    return ".".join(f'"{p}"' for p in parts)


def array_literal(values) -> str:
    """A PostgreSQL array literal for one bound parameter (cast it in SQL, e.g. ``CAST(:x AS float8[])``).

    psycopg2 adapts a Python list element by element into ``ARRAY[...]`` SQL, which the server
    then parses as expressions; one text literal is several times cheaper for batches of hundreds.

    >>> array_literal(["a", 'b"c', None, 1.5, "x,y", 2])
    '{"a","b\\\\"c",NULL,1.5,"x,y",2}'
    >>> array_literal(["a", "x,y"]), array_literal(['a","b']), array_literal([1.5, None])
    ('{"a","x,y"}', '{"a\\\\",\\\\"b"}', '{1.5,NULL}')
    """
    values = list(values)
    types = set(map(type, values))
    if types and types <= {float, int, type(None)}:  # numbers: no quoting (bool is not int here)
        parts = map(repr, values) if type(None) not in types else ("NULL" if v is None else repr(v) for v in values)
        return "{" + ",".join(parts) + "}"
    if types == {str}:  # the common case, joined in one pass
        joined = '","'.join(values)
        if "\\" not in joined and joined.count('"') == 2 * (len(values) - 1):
            return '{"' + joined + '"}'
    out = []
    for v in values:
        if v is None:
            out.append("NULL")
        elif isinstance(v, float | int) and not isinstance(v, bool):
            out.append(repr(v))
        else:
            s = str(v)
            if "\\" in s or '"' in s:
                s = s.replace("\\", "\\\\").replace('"', '\\"')
            out.append('"' + s + '"')
    return "{" + ",".join(out) + "}"


_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def execute_prepared(conn, name: str, sql: str, params: dict):
    """Run ``sql`` (with ``:name`` parameters) as a server-side prepared statement.

    Prepared once per database connection, so hot statements skip parsing and, after a few runs,
    planning. Returns the DBAPI cursor's result through SQLAlchemy.
    """
    names, prepare, execute = _statement(name, sql)
    key = f"prepared:{name}"
    if key not in conn.info:
        conn.exec_driver_sql(prepare)
        conn.info[key] = True
    return conn.exec_driver_sql(execute, {n: params[n] for n in names})


@functools.lru_cache(maxsize=256)
def _statement(name: str, sql: str) -> tuple[list[str], str, str]:
    """Parameter names, PREPARE and EXECUTE texts (scanning a long statement costs 0.4 ms)."""
    names = list(dict.fromkeys(_PARAM.findall(sql)))
    body = _PARAM.sub(lambda m: f"${names.index(m.group(1)) + 1}", sql)
    placeholders = ", ".join(f"%({n})s" for n in names)
    return names, f"PREPARE {name} AS {body}".replace("%", "%%"), f"EXECUTE {name}({placeholders})"


def fetch_prepared(conn, name: str, sql: str, params: dict) -> tuple[list[str], list[tuple]]:
    """Like :func:`execute_prepared`, on the DBAPI cursor: column names and all rows.

    For the hottest statements (a case's intake, a lookup): SQLAlchemy's result layer costs about
    0.3 ms a call here. As through ``conn.execute``: the connection's transaction is begun,
    database errors are raised as SQLAlchemy's, and a lost connection is invalidated.
    """
    names, prepare, execute = _statement(name, sql)
    key = f"prepared:{name}"
    if not conn.in_transaction():
        # what conn.execute does first (autobegin): without it the caller's conn.commit() would
        # find no transaction and do nothing, and the write would be rolled back on close
        conn.begin()
    dbapi_conn = conn.connection.dbapi_connection
    with dbapi_conn.cursor() as cur:
        try:
            if key not in conn.info:
                cur.execute(prepare, ())  # with parameters, so psycopg2 reads the doubled % as one
                conn.info[key] = True
            cur.execute(execute, {n: params[n] for n in names})
            return [d[0] for d in cur.description], cur.fetchall()
        except psycopg2.Error as e:
            if conn.dialect.is_disconnect(e, dbapi_conn, cur):
                conn.invalidate()
            raise DBAPIError.instance(execute, params, e, psycopg2.Error) from e


def feature_page(
    conn,
    table: str,
    where: str,
    page_sql: str,
    params: dict,
    bbox: tuple[float, float, float, float] | None = None,
) -> tuple[str, int, int]:
    """A listing's page: comma-joined GeoJSON features (``page_sql`` returns one text each), the
    number ``table`` holds under ``where`` and the number returned; ``bbox`` bound as :minx … :maxy."""
    if bbox:
        params = {**params, **dict(zip(("minx", "miny", "maxx", "maxy"), bbox, strict=True))}
    matched = conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"), params).scalar_one()
    rows = conn.execute(text(page_sql), params).scalars().all()
    return ",".join(rows), matched, len(rows)
