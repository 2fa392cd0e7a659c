"""tests/batch_scheduling.py reads which graded batch a test file uses from its text; here that
reading is checked against pytest's own fixture closure of every test collected this session."""
from batch_scheduling import SHARED_BATCHES, batch_of, unit_rank


def test_every_test_that_uses_a_batch_runs_in_that_batchs_unit(request):
    users = 0
    for item in request.session.items:
        used = [name for name in SHARED_BATCHES if name in getattr(item, "fixturenames", ())]
        users += bool(used)
        # a file that used two batches would need the two units merged into one
        assert used in ([], [batch_of(item.path)]), (
            f"{item.nodeid} uses {used}, but batch_scheduling puts its file in "
            f"{batch_of(item.path)!r}'s unit: one worker would grade that batch again")
    # not vacuous: where the session holds a file that names a batch, some test there uses it
    assert users or not any(batch_of(item.path) for item in request.session.items)


def test_the_batches_are_handed_out_first_costliest_first(request):
    ranks = [unit_rank(item.path) for item in request.session.items]
    assert ranks == sorted(ranks)  # conftest's collection hook orders the session this way
    assert [unit_rank(f) for f in (request.path.parent / "test_dask_grading.py",
                                   request.path.parent / "test_lessons.py",
                                   request.path)] == [0, 1, len(SHARED_BATCHES)]
