import pytest

from lens.config import ConfigError, LensConfig, load_config, to_toml


def test_shown_config_loads_back_to_the_same_values(tmp_path):
    path = tmp_path / "lens.toml"
    path.write_text(to_toml(LensConfig()))
    assert load_config(path) == LensConfig()


def test_overrides_are_applied_and_typed(tmp_path):
    path = tmp_path / "lens.toml"
    path.write_text('[market]\nk = 3\nrun_lengths = [2, 5]\n[attribution]\nthreshold = 0.5\n[ingest.fetch]\nretries = 1\n')
    config = load_config(path)
    assert config.market.k == 3.0 and isinstance(config.market.k, float)
    assert config.market.run_lengths == (2, 5)
    assert config.attribution.threshold == 0.5 and config.ingest.fetch.retries == 1
    assert config.market.est_window == LensConfig().market.est_window  # untouched default


@pytest.mark.parametrize("text, message", [
    ("[market]\nkk = 3\n", "unknown key market.kk"),
    ("[nope]\n", "unknown key nope"),
    ("[market\n", "not valid TOML"),
])
def test_bad_config_is_one_clear_error_naming_the_file(tmp_path, text, message):
    path = tmp_path / "lens.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_the_programs_options_may_follow_the_command():
    from lens.cli import global_options_first

    assert global_options_first(["annotate", "--ticker", "CQQQ", "-q"]) == ["-q", "annotate", "--ticker", "CQQQ"]
    assert global_options_first(["-c", "my.toml", "run", "corpus", "-v", "--config", "b.toml", "--out", "x"]) == [
        "-c", "my.toml", "-v", "--config", "b.toml", "run", "corpus", "--out", "x"]
    assert global_options_first(["config", "show", "--config=a.toml"]) == ["--config=a.toml", "config", "show"]
    assert global_options_first(["sentiment", "--", "-q"]) == ["sentiment", "--", "-q"]  # a text, after --
    assert global_options_first(["-q"]) == ["-q"] and global_options_first([]) == []
