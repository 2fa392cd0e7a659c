"""Grading a class on Dask, with real parts: a real `dask scheduler` and two real `dask worker`
processes on loopback, each in a working folder of its own (nothing shared but the network, as
separate machines would be), and a real PostgreSQL gradebook.

A representative part of the adversarial cohort (autograder/adversarial.py) graded on that
cluster must score and be flagged exactly as on the embedded LocalCluster into sqlite. A worker
SIGKILLed mid-batch loses nothing and records nothing twice; a submission that kills its worker
each time is marked as such after a bounded number of tries while the rest of the class is
graded. Everything the tests start is stopped by PID.
"""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder import cluster
from autograder.adversarial import CASES, LESSON, write_case, write_submission
from autograder.grading import grade, read_scores
from autograder.gradebook import all_submissions
from autograder.ledger import Ledger
from autograder.samples import make_submission
from conftest import ADVERSARIAL_TIMEOUT_S, copy_students

DASK = Path(sys.executable).with_name("dask")
SUBSET = ("complete", "partial", "kills-kernel", "patches-allclose", "floods-output", "not-json")
KILLED = ("k-complete", "k-partial", "k-raises")
KILLED_CASES = {"k-complete": "complete", "k-partial": "partial", "k-raises": "raises-after-def"}
# what the kernel was given: its share of the cores, and no malloc trim threshold (see worker.py)
THREADS = ("import os\nprint('threads', os.environ['OMP_NUM_THREADS'], torch.get_num_threads(), "
           "os.environ.get('MALLOC_TRIM_THRESHOLD_'))")


def _start(command, folder: Path, log: str) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    # a worker's temporary files (its private nbgrader course) stay in its own folder; the
    # trim threshold is what a Dask nanny gives the workers it starts
    env = {**os.environ, "TMPDIR": str(folder),
           "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "2", "MALLOC_TRIM_THRESHOLD_": "65536"}
    with (folder / log).open("w") as stream:
        return subprocess.Popen(command, cwd=folder, env=env, stdout=stream,
                                stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """A scheduler and two workers (no nanny: a killed worker stays dead, as a lost machine)."""
    from distributed import Client

    root = tmp_path_factory.mktemp("cluster")
    info = root / "scheduler" / "scheduler.json"
    processes = [_start([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                         "--no-dashboard", "--scheduler-file", str(info)],
                        root / "scheduler", "scheduler.log")]
    try:
        deadline = time.monotonic() + 120
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        with Client(scheduler_file=str(info), timeout=60) as client:
            address = client.scheduler.address
            workers = {}
            for name in ("w1", "w2"):
                workers[name] = _start([DASK, "worker", address, "--nthreads", "1", "--no-nanny",
                                        "--name", name, "--no-dashboard",
                                        "--local-directory", str(root / name)],
                                       root / name, "worker.log")
                processes.append(workers[name])
            client.wait_for_workers(2, timeout=120)
        yield {"address": address, "workers": workers, "root": root}
    finally:
        for process in reversed(processes):
            _stop(process)


def _write(root: Path, cases) -> Path:
    for case in cases:
        write_case(root, case)
    return root


def _findings(workdir: Path, students) -> dict:
    ledger = Ledger(workdir)
    return {s: (ledger.get(s, LESSON).get("status"),
                {f["answer"]: f["kind"] for f in ledger.get(s, LESSON).get("findings", [])})
            for s in students}


def test_the_cluster_into_postgresql_grades_as_the_embedded_cluster_into_sqlite(
        remote, postgres_url, tmp_path, adversarial_batch):
    """The embedded run is the session's adversarial batch (tests/conftest.py), graded with the
    same per-cell limit; the separate workers grade a part of it again, into PostgreSQL."""
    batch, batch_scores, _, _ = adversarial_batch
    submissions = copy_students(batch / "submissions", SUBSET, tmp_path / "submissions")
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submissions),
                          "--scheduler", remote["address"], "--db", postgres_url,
                          "--workdir", str(tmp_path / "remote"),
                          "--timeout", str(ADVERSARIAL_TIMEOUT_S)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    embedded = {s: batch_scores[s] for s in SUBSET if s in batch_scores}
    pairs = [(s, LESSON) for s in SUBSET]
    assert read_scores(postgres_url, pairs) == embedded
    for student in SUBSET:
        _, expected, kinds = CASES[student]
        assert embedded.get(student, {}).get(LESSON, {}).get("score", 0) == expected, student
    assert _findings(tmp_path / "remote", SUBSET) == _findings(batch / "work", SUBSET)
    assert {s: k for s, (_, k) in _findings(batch / "work", SUBSET).items()} == \
        {s: CASES[s][2] for s in SUBSET}
    # both remote workers took part (that both embedded ones did: tests/test_grading_integrity.py)
    ledger = Ledger(tmp_path / "remote")
    assert len({ledger.get(s, LESSON).get("worker") for s in SUBSET} - {None}) == 2
    assert "kills-kernel" in (tmp_path / "remote" / "grading-report.txt").read_text()
    assert not (tmp_path / "remote" / "gradebook.db").exists()  # the gradebook was PostgreSQL


def test_a_worker_whose_hidden_tests_differ_refuses_to_grade(remote):
    """A task made where the hidden checks are other than this worker's: it grades nothing."""
    from distributed import Client

    from autograder import worker

    task = {"student": "ada", "assignment": LESSON, "files": {}, "timeout": 30,
            "test_code": "0" * 64, "host_threads": {}}
    with Client(remote["address"], timeout=60) as client:
        result = client.submit(worker.grade_submission, task, b"", pure=False).result(timeout=300)
    assert "refused to grade it: its hidden checks or reference" in result["refused"], result
    assert result["notebook"] is None and not result["scores"]


def test_a_worker_killed_mid_batch_loses_nothing_and_records_nothing_twice(remote, tmp_path,
                                                                         plants):
    submissions = tmp_path / "submissions"
    for student, case in KILLED_CASES.items():
        write_case(submissions, case, student)
    nb = make_submission(LESSON, "all")  # also says how many threads its kernel was given
    nb.cells.append(nbformat.v4.new_code_cell(THREADS))
    handed_in = submissions / "k-complete" / LESSON / f"{LESSON}.ipynb"
    nbformat.write(nb, handed_in)
    lines: list[str] = []
    outcome: dict = {}
    grader = threading.Thread(target=lambda: outcome.update(scores=grade(
        submissions, tmp_path / "work", timeout=30, log=lines.append,
        scheduler=remote["address"])))
    grader.start()
    victim, deadline = None, time.monotonic() + 600
    while victim is None and grader.is_alive() and time.monotonic() < deadline:
        for name, process in remote["workers"].items():
            # a worker's private course holds the submission it is grading right now
            if list((remote["root"] / name).glob("autograder-worker-*/submitted/k-*")):
                victim = name
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                break
        time.sleep(0.1)
    grader.join(timeout=900)
    assert victim is not None, "no worker started grading"
    scores = outcome["scores"]
    assert {s: scores[s][LESSON]["score"] for s in KILLED} == \
        {s: CASES[case][1] for s, case in KILLED_CASES.items()}
    for student in KILLED:  # recorded once each, by the worker that survived
        assert sum(line.startswith(f"{student}/") for line in lines) == 1, lines
    survivor = next(name for name in remote["workers"] if name != victim)
    assert all(Ledger(tmp_path / "work").get(s, LESSON)["status"] == "graded" for s in KILLED)
    assert [s for s, _ in all_submissions(f"sqlite:///{tmp_path / 'work' / 'gradebook.db'}")] \
        == sorted(KILLED)
    graded = nbformat.read(tmp_path / "work" / "autograded" / "k-complete" / LESSON /
                           f"{LESSON}.ipynb", as_version=4)
    share = max(1, cluster.cores() // 2)  # two single-thread workers on this machine
    assert f"threads {share} {share} None" in graded.cells[-1].outputs[0]["text"]
    print(f"killed {victim}; {survivor} graded the rest")


# The kernel's parent is the worker's kernel fork server (autograder/kernel_forks.py); the
# worker is the first ancestor that is not.
KILLS_WORKER = """import os, signal
pid = os.getppid()
while b"kernel_forks" in open(f"/proc/{pid}/cmdline", "rb").read():
    pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
os.kill(pid, signal.SIGKILL)"""


def test_a_submission_that_kills_its_worker_is_marked_and_the_class_goes_on(tmp_path, plants,
                                                                            monkeypatch):
    """Its kernel kills the worker process that runs it; the embedded cluster's
    nanny restarts the worker each time, and after ALLOWED_FAILURES + 1 tries it is given up."""
    monkeypatch.setattr(cluster, "ALLOWED_FAILURES", 1)
    nb = make_submission(LESSON, "all")
    first = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
    first.source = f"{KILLS_WORKER}\n{first.source}"
    write_submission(tmp_path / "submissions", "kills-worker", nb)
    handed_in = tmp_path / "submissions" / "kills-worker" / LESSON / f"{LESSON}.ipynb"
    before = handed_in.read_bytes()
    write_case(tmp_path / "submissions", "complete")
    lines: list[str] = []
    scores = grade(tmp_path / "submissions", tmp_path / "work", workers=2, timeout=30,
                   log=lines.append)
    assert scores["complete"][LESSON]["score"] == CASES["complete"][1]
    entry = Ledger(tmp_path / "work").get("kills-worker", LESSON)
    assert entry["status"] == "failed" and "KILLS WORKERS" in entry["reason"], entry
    assert "2 tries" in entry["reason"]
    report = (tmp_path / "work" / "grading-report.txt").read_text()
    assert "kills-worker" in report and "KILLS WORKERS" in report
    assert handed_in.read_bytes() == before  # the student's file is untouched


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("options, words", [
    ({"scheduler": "tcp://127.0.0.1:8786", "workers": 2}, "give one of the two"),
    ({"workers": 0}, "--workers 0: give at least 1"),
    ({"scheduler": "127.0.0.1:8786"}, "write the scheduler's address as tcp://HOST:PORT"),
])
def test_cluster_options_that_cannot_work_are_refused_by_name(tmp_path, options, words):
    write_case(tmp_path / "submissions", "complete")
    with pytest.raises(ValueError, match=words):
        grade(tmp_path / "submissions", tmp_path / "work", **options)
    assert not (tmp_path / "work").exists()  # refused before anything was done


def test_an_unreachable_scheduler_is_named_and_nothing_is_recorded(tmp_path, plants,
                                                                   monkeypatch):
    # Dask retries a refused connection until its timeout: a short one keeps the test short
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2)
    write_case(tmp_path / "submissions", "complete")
    address = f"tcp://127.0.0.1:{_closed_port()}"
    with pytest.raises(RuntimeError, match=f"cannot reach the Dask scheduler at {address}"):
        grade(tmp_path / "submissions", tmp_path / "work", scheduler=address)
    assert Ledger(tmp_path / "work").entries == {}
