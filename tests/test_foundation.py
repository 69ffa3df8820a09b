"""Package, CLI, workspace and catalogue basics."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reelmatch.catalog import Catalog, Item, item_id_for
from reelmatch.errors import InputError, NotFoundError, WorkspaceError
from reelmatch.workspace import Workspace

HEAVY = ("torch", "av", "faiss", "ray", "fastapi", "lightning")


@pytest.mark.parametrize("argv", [["--help"], ["status"]])
def test_light_commands_do_not_import_heavy_modules(tmp_path, argv):
    Workspace.init(tmp_path / "w").close()
    code = (
        "import sys\n"
        "from reelmatch.cli.main import main\n"
        f"try:\n    main(['-w', {str(tmp_path / 'w')!r}] + {argv!r})\n"
        "except SystemExit:\n    pass\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY:' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY:", f"heavy imports: {out.stdout}"


def test_extract_on_an_up_to_date_workspace_imports_no_heavy_module(tmp_path):
    """``reelmatch extract`` with nothing to do starts light: no torch, av, faiss... in the driver (issue 18)."""
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.samples.media import moving_box_frames, tone, write_video

    ws = Workspace.init(tmp_path / "w")
    p = write_video(tmp_path / "m.mp4", seconds=2, fps=8, frames=moving_box_frames(48, 32), width=48, height=32,
                    audio=tone(440))
    ws.catalog.upsert(Item(id="m", title="M", media_path=str(p)))
    cfg = ClipConfig(start=0.0, window=2.0, num_frames=3, interval=0.5, size=32, n_mels=16, spec_frames=16)
    assert run_extract(ws, cfg, workers=0)["done"] == 1
    ws.close()
    heavy = (*HEAVY, "scipy", "sentence_transformers", "PIL")
    code = (
        "import sys\n"
        "from reelmatch.cli.main import main\n"
        f"rc = main(['-w', {str(tmp_path / 'w')!r}, 'extract', '--no-progress'])\n"
        f"heavy = [m for m in {heavy!r} if m in sys.modules]\n"
        "print(f'RC:{rc} HEAVY:' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert "0 done" in out.stderr and out.stdout.strip().splitlines()[-1] == "RC:0 HEAVY:", out.stdout


def test_every_command_has_help_with_an_example_that_parses(cli):
    import importlib
    import re
    import shlex

    from reelmatch.cli.main import COMMAND_MODULES, build_parser

    parser = build_parser()
    for modname in COMMAND_MODULES:
        name = importlib.import_module(f"reelmatch.cli.cmd_{modname}").NAME
        r = cli(name, "--help")
        assert r.returncode == 0, r.stderr
        example = r.stdout.split("Example:", 1)[1].lstrip("\n").splitlines()[0].split("#")[0]
        # every invocation in the example is a reelmatch command line this parser accepts
        runs = [shlex.split(part) for part in re.split(r"&&|\|", example) if part.strip()]
        assert runs and all(argv[0] == "reelmatch" for argv in runs), (name, example)
        assert any(name in argv for argv in runs), (name, example)
        for argv in runs:
            args = parser.parse_args(argv[1:])
            assert args.command in [importlib.import_module(f"reelmatch.cli.cmd_{m}").NAME for m in COMMAND_MODULES]


def test_init_status_json_contract(tmp_path, cli):
    w = tmp_path / "ws"
    assert cli("-w", w, "init").returncode == 0
    r = cli("-w", w, "status", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["items"] == 0
    assert set(doc["stages"]) >= {"download", "extract", "embed"}
    for counts in doc["stages"].values():
        assert set(counts) == {"done", "failed", "pending"}
    assert doc["failures"] == []


def test_env_var_selects_workspace(tmp_path, run_cli):  # a subprocess: the parser reads the variable at start
    w = tmp_path / "envws"
    assert run_cli("init", env={"REELMATCH_WORKSPACE": str(w)}).returncode == 0
    assert (w / "catalog.db").exists()


def test_status_without_workspace_is_one_line_error(tmp_path, cli):
    r = cli("-w", tmp_path / "nothing", "status")
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1
    assert "init" in r.stderr and "not a reelmatch workspace" in r.stderr


def test_catalog_upsert_stage_and_status(ws):
    cat = ws.catalog
    iid = item_id_for("url", "https://example.org/a")
    assert cat.upsert(Item(id=iid, title="Alien", genres=("Horror", "Sci-Fi", "horror"), source="https://example.org/a")) == "inserted"
    assert cat.get(iid).genres == ("Horror", "Sci-Fi")
    assert cat.upsert(Item(id=iid, title="Alien", genres=("Horror", "Sci-Fi"), source="https://example.org/a")) == "unchanged"
    assert cat.upsert(Item(id=iid, title="Alien", year=1979, genres=("Horror",), source="https://example.org/a")) == "updated"
    assert cat.count() == 1
    cat.mark_failed(iid, "download", "HTTP 404\nNot Found")
    doc = cat.status()
    assert doc["stages"]["download"] == {"done": 0, "failed": 1, "pending": 0}
    assert doc["failures"] == [{"id": iid, "title": "Alien", "stage": "download", "error": "HTTP 404 Not Found"}]
    assert [i.id for i in cat.todo("download", None)] == []
    assert [i.id for i in cat.todo("download", None, retry_failed=True)] == [iid]
    cat.mark_done(iid, "extract", "fp1")
    assert cat.todo("extract", "fp1") == []
    assert [i.id for i in cat.todo("extract", "fp2")] == [iid]  # stale fingerprint -> redo
    assert [i.title for i in cat.search("ali", genre="horror")] == ["Alien"]
    assert cat.search("ali", genre="Comedy") == []


def test_catalog_rejects_bad_kind_and_checks_schema(ws, tmp_path):
    with pytest.raises(InputError, match="kind"):
        ws.catalog.upsert(Item(id="x", title="X", kind="movie"))
    ws.catalog._conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(WorkspaceError, match="schema 99"):
        Catalog(ws.catalog_path)
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(WorkspaceError):
        Catalog(bogus)


def test_resolve_ambiguous_title_lists_candidates(ws):
    ws.catalog.upsert(Item(id="a1", title="Dune", year=1984))
    ws.catalog.upsert(Item(id="a2", title="Dune", year=2021))
    with pytest.raises(NotFoundError, match="ambiguous.*a1.*a2"):
        ws.resolve("dune")
    assert ws.resolve("a2").year == 2021
    with pytest.raises(NotFoundError, match="no item"):
        ws.resolve("Nope")


def test_generated_media_decodes(media_dir):
    import av

    with av.open(str(media_dir / "red box.mp4")) as c:
        assert c.streams.video[0].codec_context.width == 64
        assert len(c.streams.audio) == 1
    with av.open(str(media_dir / "silent.mkv")) as c:
        assert len(c.streams.audio) == 0
