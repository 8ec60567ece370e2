from tests.train.conftest import make_config, prepared_dir, write_config  # noqa: F401
