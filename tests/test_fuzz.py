"""Property-based fuzzing of every operation of the OpenAPI (schemathesis): whatever a client sends,
wangge answers without a server error, and every answer matches the schema the OpenAPI documents
for it (the hand-built answers included, which are not checked at run time).

Bounded so ``make test`` stays short: a fixed seed (derandomised examples) and a fixed number of
examples per operation, against a small city with a unit, a rule, a component, a worker with a
track and a case, so the generated requests reach the code behind the 404s.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from sqlalchemy import text

from api.app import create_app
from gis.cases import intake
from gis.registry import components, rules, units
from gis.settings import Settings
from gis.tracks import ingest, workers
from tests.conftest import api_key, bearer, url_of_test_database
from tests.helpers import load_city, square_city

#: examples per operation (about 60 operations: 1-2 minutes on two cores)
EXAMPLES = 100

# built when the module is collected (schemathesis makes one test per operation from it); the
# engines connect on first use, after the session has prepared the database
_app = create_app(Settings(database_url=url_of_test_database()))
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)
#: the OGC API's own OpenAPI 3.0 definition (issue 16): every collection's items, item and queryables
ogc_schema = schemathesis.openapi.from_asgi("/ogc/api", _app)


@pytest.fixture(scope="module")
def city(engine):
    """The square city and one of everything, loaded once for the whole module."""
    with engine.begin() as conn:
        conn.execute(
            text(
                'TRUNCATE track_point, worker_position, device_reject, worker_grid, worker, case_event, "case", '
                "dispatch_rule, component, resp_unit, grid_piece, grid, import_run, api_key, access_grant, "
                "app_user, auth_session RESTART IDENTITY CASCADE"
            )
        )
    load_city(engine, square_city())
    with engine.begin() as conn:
        units.create_unit(conn, code="U1", name="市政", kind="municipal", area_code="110108")
        rules.create_rule(conn, class_code="0101", area_code="110108001", resp_unit="U1")
        components.create_component(
            conn,
            code="1101080101000001",
            geometry={"type": "Point", "coordinates": [116.302, 39.902]},
            owner_unit="U1",
        )
        workers.create_worker(conn, worker_id="w1", name="网格员", device_id="dev1", grids=["110108001001001"])
        ingest.ingest(conn, [{"worker_id": "w1", "fix_time": "2024-05-01T01:00:00Z", "lon": 116.301, "lat": 39.929}])
        intake.intake(conn, lon=116.301, lat=39.929, class_code="0101", channel="hotline")
    return bearer(api_key(engine))  # the fuzzer signs in as an administrator of the whole city


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_request_gets_a_server_error(case, city):
    case.call_and_validate(headers=city, checks=[not_a_server_error, response_schema_conformance])


@ogc_schema.parametrize()
@settings(
    max_examples=EXAMPLES // 2,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_ogc_request_gets_a_server_error(case, city):
    case.call_and_validate(headers=city, checks=[not_a_server_error])
