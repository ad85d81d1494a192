"""Run names in eval's tables: file names where they tell the runs apart."""

from tasksift.output.reports import shown_run_names


def test_run_files_are_shown_by_their_file_names() -> None:
    names = ["runs/base.trec", "/tmp/adapted.trec", "hybrid"]
    assert shown_run_names(names) == {
        "runs/base.trec": "base.trec",
        "/tmp/adapted.trec": "adapted.trec",
        "hybrid": "hybrid",
    }


def test_paths_stay_whole_where_file_names_clash() -> None:
    names = ["a/run.trec", "b/run.trec"]
    assert shown_run_names(names) == {"a/run.trec": "a/run.trec", "b/run.trec": "b/run.trec"}
