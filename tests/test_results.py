"""Results files: written atomically with command, date and machine; read back; clear errors."""

import json

import pytest

from seglab.results import markdown_table, read_results, write_results, write_script_results


def test_write_then_read_round_trips_rows_and_provenance(tmp_path):
    rows = [{"seed": 0, "AP": 0.25}, {"seed": 1, "AP": 0.5}]
    path = write_results("demo", rows, command="python demo.py --seeds 0 1", params={"steps": 3},
                         results_dir=tmp_path)
    assert path == tmp_path / "demo.json"
    back = read_results("demo", results_dir=tmp_path)
    assert back["rows"] == rows and back["params"] == {"steps": 3}
    assert back["command"] == "python demo.py --seeds 0 1" and back["machine"].startswith("cpu: ")
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


def test_a_script_records_the_command_that_reruns_it(tmp_path, capsys):
    path = write_script_results("trial", [{"seed": 0}], script="benchmarks/x.py", argv=["--seeds", "0", "1 2"],
                                params={"quick": True}, results_dir=tmp_path)
    back = read_results("trial", results_dir=tmp_path)
    assert back["command"] == "python benchmarks/x.py --seeds 0 '1 2'" and back["params"] == {"quick": True}
    assert f"wrote {path}" in capsys.readouterr().out


def test_missing_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results file"):
        read_results("absent", results_dir=tmp_path)
    (tmp_path / "foreign.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match=r"lacks \['command', 'date', 'machine'\]"):
        read_results("foreign", results_dir=tmp_path)
    with pytest.raises(ValueError, match="list of dicts"):
        write_results("bad", [1, 2], command="x", results_dir=tmp_path)


def test_markdown_table_rounds_floats():
    table = markdown_table([{"seed": 0, "AP": 0.12345}], digits=2)
    assert table.splitlines() == ["| seed | AP |", "|---|---|", "| 0 | 0.12 |"]
