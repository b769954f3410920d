from tests.support.cloud_fixtures import api, api2, cloud, fake  # noqa: F401 (fixtures)
