import pytest

from tests.support.moto_env import moto_app


@pytest.fixture
def app_env():
    with moto_app() as env:
        yield env
