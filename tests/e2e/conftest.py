from tests.support.cloud_fixtures import api, api2, cloud  # noqa: F401 (fixtures)
