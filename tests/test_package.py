"""paperchat as a library and a command: one import package with a small public API, settings that fail loudly,
--version and -v."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from conftest import BUNDLED_COUNT, run_cli, subprocess_env

from paperchat.rag.settings import SettingsError, load_settings, setting_names, unknown_variables


def test_only_the_paperchat_import_package_is_installed():
    top_level = metadata.distribution("paperchat").read_text("top_level.txt")
    assert top_level is None or top_level.split() == ["paperchat"]
    for generic in ("rag", "ingest", "ui", "evals"):
        found = subprocess.run([sys.executable, "-c", f"import {generic}"], capture_output=True, text=True,
                               cwd=Path("/"), env=subprocess_env())
        assert found.returncode != 0, f"a top-level {generic!r} package is importable"


def test_the_documented_library_example_runs(tmp_path):
    # what the README shows, importing nothing but `paperchat`
    script = tmp_path / "example.py"
    script.write_text(
        "from paperchat import Assistant, Settings, ingest_paths\n"
        "import paperchat, sys\n"
        "settings = Settings(home=sys.argv[1])\n"
        "report = ingest_paths([sys.argv[2]], settings)\n"
        "answer = Assistant(settings).ask('How can a deep network be trained with less memory?')\n"
        "print(report.new, answer.status, [c.title for c in answer.citations][:1], paperchat.__version__)\n",
        encoding="utf-8")
    papers = Path(__file__).resolve().parents[1] / "data" / "papers.txt"
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "home"), str(papers)], capture_output=True,
                          text=True, cwd=tmp_path, env=subprocess_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    new, status, *_ = done.stdout.split(" ", 2)
    assert int(new) == BUNDLED_COUNT and status == "answered"
    assert "Training Deep Nets with Sublinear Memory Cost" in done.stdout


def test_public_names_load_lazily():
    done = subprocess.run([sys.executable, "-c", "import sys, paperchat; print('paperchat.rag.assistant' in "
                           "sys.modules, sorted(paperchat.__all__))"], capture_output=True, text=True,
                          env=subprocess_env())
    assert done.stdout.startswith("False"), "import paperchat must not load the chain"
    assert "Assistant" in done.stdout and "ingest_paths" in done.stdout and "Settings" in done.stdout


def test_version_and_verbose(tmp_path):
    version = run_cli(["--version"], cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"paperchat {metadata.version('paperchat')}"
    quiet = run_cli(["--home", str(tmp_path / "h"), "collections"], cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == ""


# ------------------------------------------------------------------------------------- settings


def test_a_misspelled_nested_variable_is_an_error_naming_the_right_one(tmp_path):
    done = run_cli(["search", "memory"], cwd=tmp_path,
                   env=subprocess_env(PAPERCHAT_RETRIEVAL__FUSON="rrf"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == ("error: bad setting: PAPERCHAT_RETRIEVAL__FUSON is not a setting (did you mean "
                                   "PAPERCHAT_RETRIEVAL__FUSION?)")


def test_a_bad_value_is_one_line_with_the_allowed_values(tmp_path):
    done = run_cli(["papers"], cwd=tmp_path, env=subprocess_env(PAPERCHAT_RETRIEVAL__FUSION="borda",
                                                               PAPERCHAT_CHUNK__SIZE="big"))
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "PAPERCHAT_RETRIEVAL__FUSION='borda': input should be 'convex' or 'rrf'" in done.stderr
    assert "PAPERCHAT_CHUNK__SIZE='big': input should be a valid integer" in done.stderr


def test_dotenv_is_checked_too(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("PAPERCHAT_COLLECTON=mine\nOTHER_TOOL_SETTING=1\n", encoding="utf-8")
    assert unknown_variables(environ={}, env_file=tmp_path / ".env") == [
        "PAPERCHAT_COLLECTON is not a setting (did you mean PAPERCHAT_COLLECTION?)"]


def test_keys_are_secret_and_every_setting_has_a_variable(monkeypatch):
    monkeypatch.setenv("PAPERCHAT_LLM__API_KEY", "sk-test-secret")
    monkeypatch.setenv("PAPERCHAT_AUTH", "ana:pw")
    settings = load_settings(_env_file=None)
    assert "sk-test-secret" not in repr(settings) and "pw" not in str(settings.fingerprint)
    assert settings.llm.api_key.get_secret_value() == "sk-test-secret"
    assert settings.auth.get_secret_value() == "ana:pw"
    assert {"PAPERCHAT_RETRIEVAL__FUSION", "PAPERCHAT_LIMITS__MAX_QUESTION_CHARS", "PAPERCHAT_AUTH",
            "PAPERCHAT_LOG_LEVEL", "PAPERCHAT_ANSWER__MIN_CONFIDENCE"} <= set(setting_names())


def test_load_settings_raises_settings_error(monkeypatch):
    monkeypatch.setenv("PAPERCHAT_LLM__TIMEOUT", "-1")
    with pytest.raises(SettingsError, match=r"PAPERCHAT_LLM__TIMEOUT='-1': input should be greater than 0"):
        load_settings(_env_file=None)


def test_a_pattern_setting_says_what_is_allowed_not_the_regex():
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None, collection="a/b")
    assert str(raised.value) == ("bad setting: PAPERCHAT_COLLECTION='a/b': must be 3-512 letters, digits, '.', '_' "
                                 "or '-', starting and ending with a letter or digit")


ROOT = Path(__file__).resolve().parents[1]
#: What each layer may import of paperchat (dependencies point one way: ui -> evals/ingest -> rag).
ALLOWED = {"rag": {"rag"}, "ingest": {"rag", "ingest"}, "evals": {"rag", "ingest", "evals"}}
#: The reliability harness drives the front doors themselves (it renders answers as the web UI does).
DRIVES_UI = {"evals/reliability.py"}


def _imports(path: Path) -> set[str]:
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_dependencies_point_one_way(layer):
    wrong = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "gradio" and layer != "ui":
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
            if parts[0] == "paperchat" and len(parts) > 1 and parts[1] not in ALLOWED[layer] and not (
                    parts[1] == "ui" and str(path.relative_to(ROOT)) in DRIVES_UI):
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_the_layer_check_sees_a_wrong_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from paperchat.ui import web\nimport gradio\n", encoding="utf-8")
    assert _imports(bad) == {"paperchat.ui", "gradio"}
