"""The plan's speed measures keep their promises: the collector comes back, manifests survive libyaml."""
from __future__ import annotations

import gc

import pytest
import yaml

from strait.plan import artefacts
from strait.plan.engine import paused_gc


@pytest.fixture(autouse=True)
def _restore_gc():
    was = gc.isenabled()
    yield
    gc.unfreeze()
    (gc.enable if was else gc.disable)()


def test_the_collector_is_off_inside_and_restored_after():
    gc.enable()
    with paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with paused_gc():
            raise RuntimeError("a failing plan")
    assert gc.isenabled()
    gc.disable()
    with paused_gc():
        pass
    assert not gc.isenabled()  # a caller that had it off keeps it off


def test_what_the_block_built_is_left_out_of_later_collections():
    gc.unfreeze()
    with paused_gc():
        kept = [{"n": i} for i in range(10_000)]
    assert gc.get_freeze_count() >= len(kept)  # a plan's records and the SDK's state are never scanned again


TRICKY = {
    "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"a": "on", "b": "yes"}},
    "data": {"octal": "0777", "float": "1.0", "null": "null", "colon": "a: b", "hash": "# not a comment",
             "multi": "line one\nline two\n", "unicode": "Đà Nẵng — 東京", "long": "word " * 60,
             "empty": "", "lead": " spaced ", "star": "*alias", "bool": "False", "date": "2026-11-30"},
    "spec": {"n": 3, "f": 0.9, "t": True, "none": None, "list": [1, "2", {"k": []}], "empty": {}},
}


def test_manifests_are_written_with_libyaml_and_read_back_unchanged():
    assert yaml.__with_libyaml__, "PyYAML without libyaml: manifests would take ~5x longer to write"
    assert artefacts._YAML_DUMPER is yaml.CSafeDumper
    text = artefacts.dump_manifest(TRICKY)
    assert yaml.safe_load(text) == TRICKY
    assert text.splitlines()[:3] == ["apiVersion: v1", "kind: ConfigMap", "metadata:"]


def test_find_leaks_names_each_file_and_secret_found(tmp_path):
    secrets = ["mock-random-a-123", "mock-random-ab-456", "mock-random-abc-789", "sk-ant-real", "", "短い秘密です"]
    (tmp_path / "m").mkdir()
    (tmp_path / "clean.yaml").write_text("mock-random- is only a prefix; sk-ant- too\n")
    (tmp_path / "one.json").write_text('{"k": "xx mock-random-ab-456 yy"}')
    (tmp_path / "m" / "two.yaml").write_text("mock-random-a-123\nmock-random-abc-789 and mock-random-a-12")
    (tmp_path / "m" / "three.txt").write_text("end: sk-ant-real and 短い秘密です", encoding="utf-8")
    assert sorted(artefacts.find_leaks(tmp_path, secrets)) == sorted(
        ["one.json", "m/two.yaml", "m/two.yaml", "m/three.txt", "m/three.txt"])
    assert artefacts.find_leaks(tmp_path, []) == []
