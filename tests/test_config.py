import re
from pathlib import Path

import pytest

from bot.config import Secret, SettingsError, check_token, load_settings

GOOD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GAbCdE.abcdefghijklmnopqrstuvwxyz012345678"


def test_defaults_need_nothing_but_a_token() -> None:
    s = load_settings({"DISCORD_TOKEN": GOOD_TOKEN}, require_token=True)
    assert s.token.get() == GOOD_TOKEN
    assert s.database.name == "paperbot.db"
    assert s.data_dir.name == "data"
    assert s.log_level == "INFO"
    assert s.refresh_hf is True and s.refresh_arxiv is False


def test_every_problem_is_reported_at_once() -> None:
    env = {
        "DISCORD_TOKEN": "",
        "PAPERBOT_DEV_GUILD_ID": "abc",
        "PAPERBOT_LOG_LEVEL": "loud",
        "PAPERBOT_SEARCH_COOLDOWN": "fast",
        "PAPERBOT_REFRESH": "maybe",
        "PAPERBOT_REFRESH_MINUTES": "1",
        "PAPERBOT_ARXIV_CATEGORIES": "cs.LG, not a category!",
        "PAPERBOT_HF_API": "ftp://x",
    }
    with pytest.raises(SettingsError) as info:
        load_settings(env, require_token=True)
    problems = info.value.problems
    assert len(problems) == 8
    text = str(info.value)
    for name in env:
        assert name in text


def test_values_are_parsed() -> None:
    s = load_settings(
        {
            "PAPERBOT_DATABASE": "/tmp/x/pb.db",
            "PAPERBOT_DEV_GUILD_ID": "123",
            "PAPERBOT_LOG_LEVEL": "debug",
            "PAPERBOT_SEARCH_COOLDOWN": "2/10",
            "PAPERBOT_REFRESH_ARXIV": "yes",
            "PAPERBOT_ARXIV_CATEGORIES": "cs.LG math.CO",
            "PAPERBOT_HF_API": "http://127.0.0.1:9999/",
        }
    )
    assert s.database == Path("/tmp/x/pb.db")
    assert s.dev_guild_id == 123
    assert s.log_level == "DEBUG"
    assert (s.search_cooldown_uses, s.search_cooldown_seconds) == (2, 10.0)
    assert s.refresh_arxiv is True
    assert s.arxiv_categories == ("cs.LG", "math.CO")
    assert s.hf_api_base == "http://127.0.0.1:9999"


def test_dotenv_file_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"DISCORD_TOKEN={GOOD_TOKEN}\nPAPERBOT_LOG_LEVEL=ERROR\n")
    monkeypatch.setenv("PAPERBOT_LOG_LEVEL", "WARNING")
    s = load_settings(env_file=env_file, require_token=True)
    assert s.token.get() == GOOD_TOKEN
    assert s.log_level == "WARNING"


@pytest.mark.parametrize(
    ("token", "fragment"),
    [
        ("", "not set"),
        ("Bot " + GOOD_TOKEN, "without the 'Bot ' prefix"),
        ("hunter2", "does not look like a bot token"),
    ],
)
def test_bad_tokens_are_explained_without_echoing_them(token: str, fragment: str) -> None:
    why = check_token(token)
    assert why is not None and fragment in why
    if token:
        assert token not in why
    assert check_token(GOOD_TOKEN) is None


def test_the_token_never_shows_in_repr() -> None:
    s = load_settings({"DISCORD_TOKEN": GOOD_TOKEN})
    assert GOOD_TOKEN not in repr(s)
    assert GOOD_TOKEN not in str(s.token)
    assert "********" in repr(Secret("x"))


def test_env_example_documents_every_setting() -> None:
    root = Path(__file__).resolve().parent.parent
    source = (root / "bot" / "config.py").read_text()
    example = (root / ".env.example").read_text()
    names = set(re.findall(r'"((?:PAPERBOT|DISCORD)_[A-Z_]+)"', source))
    assert "DISCORD_TOKEN" in names and len(names) >= 10
    missing = sorted(n for n in names if f"{n}=" not in example)
    assert not missing, f".env.example does not document {missing}"
    # Every setting in .env.example is one the bot reads (no stale names).
    documented = set(re.findall(r"^#?\s*((?:PAPERBOT|DISCORD)_[A-Z_]+)=", example, re.M))
    assert documented <= names, documented - names


def test_shards_default_to_discords_recommendation_in_one_process() -> None:
    s = load_settings({})
    assert s.shard_count is None and s.shard_ids is None and s.shard_set is None


@pytest.mark.parametrize(
    ("shards", "count", "ids"),
    [
        ("0-3", "8", (0, 1, 2, 3)),
        ("4-7", "8", (4, 5, 6, 7)),
        ("0, 2,5", "6", (0, 2, 5)),
        ("0-1,6-7", "8", (0, 1, 6, 7)),
        ("3", "4", (3,)),
    ],
)
def test_a_process_runs_a_range_of_the_shards(shards: str, count: str, ids: tuple[int]) -> None:
    s = load_settings({"PAPERBOT_SHARDS": shards, "PAPERBOT_SHARD_COUNT": count})
    assert s.shard_ids == ids and s.shard_count == int(count)
    assert s.shard_set is not None and s.shard_set.ids == ids
    assert s.shard_set.share == len(ids) / int(count)


def test_every_shard_in_one_process_needs_no_filter() -> None:
    s = load_settings({"PAPERBOT_SHARDS": "0-3", "PAPERBOT_SHARD_COUNT": "4"})
    assert s.shard_ids == (0, 1, 2, 3) and s.shard_set is None
    only_count = load_settings({"PAPERBOT_SHARD_COUNT": "4"})
    assert only_count.shard_count == 4 and only_count.shard_ids is None
    assert only_count.shard_set is None


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"PAPERBOT_SHARDS": "0-3"}, "PAPERBOT_SHARDS needs PAPERBOT_SHARD_COUNT"),
        ({"PAPERBOT_SHARDS": "0-8", "PAPERBOT_SHARD_COUNT": "8"}, "shard ids run from 0 to 7"),
        ({"PAPERBOT_SHARDS": "3-1", "PAPERBOT_SHARD_COUNT": "8"}, "runs backwards"),
        ({"PAPERBOT_SHARDS": "0-3,2", "PAPERBOT_SHARD_COUNT": "8"}, "more than once"),
        ({"PAPERBOT_SHARDS": "first", "PAPERBOT_SHARD_COUNT": "8"}, "not a shard id"),
        ({"PAPERBOT_SHARDS": "0,,1", "PAPERBOT_SHARD_COUNT": "8"}, "empty part"),
        ({"PAPERBOT_SHARDS": "-1", "PAPERBOT_SHARD_COUNT": "8"}, "not a shard id"),
        ({"PAPERBOT_SHARD_COUNT": "0"}, "PAPERBOT_SHARD_COUNT must be at least 1"),
        ({"PAPERBOT_SHARD_COUNT": "eight"}, "PAPERBOT_SHARD_COUNT must be a whole number"),
        ({"PAPERBOT_SHARD_COUNT": "10000000"}, "PAPERBOT_SHARD_COUNT must be at most"),
    ],
)
def test_bad_shard_settings_say_what_to_fix(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    assert len(info.value.problems) == 1
    assert fragment in info.value.problems[0]


def test_web_settings_default_to_this_machine_only() -> None:
    s = load_settings({})
    assert (s.web_enabled, s.web_host, s.web_port) == (True, "127.0.0.1", 8080)
    assert s.web_url == "http://127.0.0.1:8080"
    assert (s.web_rate_requests, s.web_rate_seconds) == (60, 60.0)
    assert s.web_trusted_proxies == ()


def test_web_settings_are_parsed() -> None:
    s = load_settings(
        {
            "PAPERBOT_WEB": "off",
            "PAPERBOT_WEB_HOST": "0.0.0.0",
            "PAPERBOT_WEB_PORT": "9000",
            "PAPERBOT_WEB_RATE_LIMIT": "30 / 10",
            "PAPERBOT_WEB_TRUSTED_PROXIES": "127.0.0.1, ::1 172.16.0.0/12",
        }
    )
    assert (s.web_enabled, s.web_host, s.web_port) == (False, "0.0.0.0", 9000)
    assert s.web_url == "http://127.0.0.1:9000"  # every address: the URL names this machine
    assert (s.web_rate_requests, s.web_rate_seconds) == (30, 10.0)
    assert s.web_trusted_proxies == ("127.0.0.1", "::1", "172.16.0.0/12")
    s = load_settings(
        {"PAPERBOT_WEB_URL": "https://papers.example.org/pb/", "PAPERBOT_WEB_RATE_LIMIT": "off"}
    )
    assert s.web_url == "https://papers.example.org/pb" and s.web_rate_requests == 0


def test_bad_web_settings_are_all_reported() -> None:
    env = {
        "PAPERBOT_WEB": "sometimes",
        "PAPERBOT_WEB_HOST": "not a host",
        "PAPERBOT_WEB_PORT": "65536",
        "PAPERBOT_WEB_URL": "papers.example.org",
        "PAPERBOT_WEB_RATE_LIMIT": "0/10",
        "PAPERBOT_WEB_TRUSTED_PROXIES": "127.0.0.1, proxy.local",
    }
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    problems = info.value.problems
    assert len(problems) == 6
    for name, problem in zip(env, problems, strict=True):
        assert problem.startswith(name), problem
    assert problems[-1].endswith(", not proxy.local")  # only the bad one is named


@pytest.mark.parametrize("raw", [",", " , ", ", ,", " "])
def test_arxiv_categories_that_name_none_are_a_settings_error(raw: str) -> None:
    if not raw.strip():  # blank is unset: the default categories
        assert load_settings({"PAPERBOT_ARXIV_CATEGORIES": raw}).arxiv_categories
        return
    with pytest.raises(SettingsError) as info:
        load_settings({"PAPERBOT_ARXIV_CATEGORIES": raw, "PAPERBOT_REFRESH_ARXIV": "true"})
    (problem,) = info.value.problems
    assert problem.startswith("PAPERBOT_ARXIV_CATEGORIES lists no category")


@pytest.mark.parametrize(
    "line", ['"ops@example.org\\nX-Extra: 1"', '"a@b.org\\rx"', "'a\x01@b.org'"]
)
def test_a_contact_with_a_line_break_or_control_character_is_a_settings_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str
) -> None:
    # A "\n" in a double-quoted .env value is a real line break after python-dotenv reads it;
    # in the User-Agent header it made every request to the sources fail.
    monkeypatch.delenv("PAPERBOT_CONTACT", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text(f"PAPERBOT_CONTACT={line}\n")
    with pytest.raises(SettingsError) as info:
        load_settings(env_file=env_file)
    (problem,) = info.value.problems
    assert problem.startswith("PAPERBOT_CONTACT must be one line")
    assert load_settings({"PAPERBOT_CONTACT": " https://example.org/bot "}).contact == (
        "https://example.org/bot"
    )


def test_an_env_file_named_on_purpose_must_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env_file=tmp_path / "missing.env")
    assert info.value.problems == [f"--env-file {tmp_path / 'missing.env'}: no such file"]
    with pytest.raises(SettingsError, match="is a folder"):
        load_settings(env_file=tmp_path)
    # The default .env may be absent: the environment alone is enough.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("bot.config.PROJECT_ROOT", tmp_path / "checkout")
    assert load_settings().log_level
