"""``tfsnn diff-results``: what moved between fresh result CSVs and reference ones."""

import json

import pandas as pd
import pytest

from tfsnn.cli import main
from tfsnn.report.regression import diff_frames, diff_results, stack_differences, update_references
from tfsnn.stack import ENVIRONMENT_FILE, fingerprint, stack_text

HERE = stack_text(fingerprint())
ELSEWHERE = stack_text({**fingerprint(), "cpu": "vendor GenuineIntel family 6 model 143 stepping 8", "threads": "8"})


def _frame(values, data_file="/work/shared/data/mnist.npz", commit="aaa", stack=HERE):
    return pd.DataFrame({"config": ["2-2", "4-4"][:len(values)], "accuracy": values,
                         "data_file": data_file, "git_commit": commit, "scale": "smoke", "stack": stack})


def test_equal_frames_do_not_change_and_provenance_is_ignored():
    fresh = _frame([90.0, 91.0], data_file="/check/work/shared/data/mnist.npz", commit="bbb")
    assert diff_frames(fresh, _frame([90.0, 91.0]), atol=1e-6, rtol=1e-6) == []


def test_a_moved_value_is_named_with_its_row():
    changes = diff_frames(_frame([90.0, 91.5]), _frame([90.0, 91.0]), atol=0.1, rtol=0.0)
    assert changes == [{"change": "accuracy moved", "reference": 91.0, "fresh": 91.5, "detail": "config=4-4",
                        "stack": ""}]
    assert diff_frames(_frame([90.0, 91.05]), _frame([90.0, 91.0]), atol=0.1, rtol=0.0) == []


def test_rows_only_one_side_has_are_reported():
    fresh = _frame([90.0, 91.0]).assign(config=["2-2", "6-6"])
    changes = diff_frames(fresh, _frame([90.0, 91.0]), atol=1e-6, rtol=1e-6)
    assert sorted((c["change"], c["detail"]) for c in changes) == [
        ("row in fresh only", "config=6-6"), ("row in reference only", "config=4-4")]


def test_missing_key_columns_and_files_are_changes(tmp_path):
    assert diff_frames(_frame([90.0]).drop(columns="config"), _frame([90.0]), 1e-6, 1e-6) == [
        {"change": "columns missing", "detail": "config"}]
    (tmp_path / "fresh").mkdir()
    update_references(_write(tmp_path / "made", "t.csv", _frame([90.0])), tmp_path / "ref")
    assert diff_results(tmp_path / "fresh", tmp_path / "ref").to_dict("records")[0]["change"] == "file missing"


def _write(folder, name, frame):
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / name, index=False)
    return folder


def test_a_moved_value_names_the_parts_of_the_two_rows_stacks_that_differ():
    assert stack_differences(HERE, HERE) == ""
    assert stack_differences(HERE, ELSEWHERE) == (
        f"cpu: {fingerprint()['cpu']} -> vendor GenuineIntel family 6 model 143 stepping 8, "
        f"threads: {fingerprint()['threads']} -> 8")
    assert stack_differences("", HERE) == "not recorded"  # a row made before rows had a stack
    [change] = diff_frames(_frame([90.0, 92.0], stack=ELSEWHERE), _frame([90.0, 91.0]), atol=0.0, rtol=0.0)
    assert change["stack"].startswith("cpu: ")


def test_update_records_the_stack_and_the_exit_status_follows_it(tmp_path, capsys):
    ref = tmp_path / "ref"
    update_references(_write(tmp_path / "old", "t.csv", _frame([90.0, 91.0])), ref)
    assert json.loads((ref / ENVIRONMENT_FILE).read_text()) == fingerprint()
    _write(tmp_path / "same", "t.csv", _frame([90.0, 91.0]))
    _write(tmp_path / "moved", "t.csv", _frame([90.0, 92.0]))
    _write(tmp_path / "key_moved", "t.csv", _frame([90.0, 91.0]).assign(config=["2-2", "8-8"]))
    _write(tmp_path / "new_row", "t.csv", pd.concat([_frame([90.0, 91.0]), _frame([92.0]).assign(config="8-8")]))
    assert main(["diff-results", str(tmp_path / "same"), str(ref)]) == 0
    assert main(["diff-results", str(tmp_path / "moved"), str(ref)]) == 1  # same stack: values must match
    assert main(["diff-results", str(tmp_path / "key_moved"), str(ref)]) == 1  # ... and row keys

    for name in ("moved", "key_moved", "new_row"):  # the same rows, made on another machine
        frame = pd.read_csv(tmp_path / name / "t.csv", keep_default_na=False)
        _write(tmp_path / name, "t.csv", frame.assign(stack=ELSEWHERE))
    capsys.readouterr()
    assert main(["diff-results", str(tmp_path / "moved"), str(ref)]) == 0  # another stack: values may move
    out = capsys.readouterr().out
    assert "not counted as changes" in out and "cpu: " in out and "threads: " in out
    # a row key holding a result (a searched configuration, a verdict) may move with the values
    assert main(["diff-results", str(tmp_path / "key_moved"), str(ref)]) == 0
    assert main(["diff-results", str(tmp_path / "new_row"), str(ref)]) == 1  # ... the structure may not


def test_update_replaces_every_reference_csv(tmp_path):
    ref = _write(tmp_path / "ref", "stale.csv", _frame([1.0]))
    # a run in progress keeps what it has not made again (an earlier machine's results) ...
    assert update_references(_write(tmp_path / "fresh", "t.csv", _frame([90.0])), ref, prune=False) == ["t.csv"]
    assert sorted(p.name for p in ref.iterdir()) == [ENVIRONMENT_FILE, "stale.csv", "t.csv"]
    # ... a finished one replaces every reference
    assert update_references(tmp_path / "fresh", ref) == ["t.csv"]
    assert sorted(p.name for p in ref.iterdir()) == [ENVIRONMENT_FILE, "t.csv"]
    with pytest.raises(ValueError, match="no result CSVs"):
        update_references(tmp_path / "empty", ref)


def test_two_files_are_compared_row_by_row_with_the_stacks_they_record(tmp_path):
    # one job's rows against its committed ones (workflow/reference/small/runs/{run}/metrics.csv)
    committed = _write(tmp_path / "reference" / "runs" / "r", "metrics.csv", _frame([90.0, 91.0]))
    fresh = _write(tmp_path / "fresh", "metrics.csv", _frame([90.0, 91.5], commit="bbb"))
    changes = diff_results(fresh / "metrics.csv", committed / "metrics.csv", atol=0.0, rtol=0.0)
    assert changes[["change", "fresh", "stack"]].to_dict("records") == [
        {"change": "accuracy moved", "fresh": 91.5, "stack": ""}]
    assert main(["diff-results", str(fresh / "metrics.csv"), str(committed / "metrics.csv")]) == 1  # same stack
    _write(tmp_path / "reference" / "runs" / "r", "metrics.csv", _frame([90.0, 91.0]).drop(columns="stack"))
    assert main(["diff-results", str(fresh / "metrics.csv"), str(committed / "metrics.csv")]) == 0  # unrecorded
    _write(tmp_path / "fresh", "metrics.csv", _frame([90.0, 91.0], commit="bbb"))
    assert main(["diff-results", str(fresh / "metrics.csv"), str(committed / "metrics.csv"),
                 "--atol", "0", "--rtol", "0"]) == 0
