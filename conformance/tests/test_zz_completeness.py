"""The suite against its schema and its state machine (conftest runs this file last).

- every element of the served schema has a test that covers it, unless it belongs to a
  feature migbench has not built yet or no traffic can show it (internal state); the
  report lists those as such;
- every `covers` claim of a test that passed was seen in that test's QMP traffic;
- in a run of the whole suite, every transition of the state machine was taken by some
  test, except those of features the target lacks and those it gives no way to trigger."""
import pytest

from lib import elements, features, statemachine


def all_items(request):
    return request.config._mb_all_items


def test_every_schema_element_has_a_test(target, request):
    covered = set()
    for item in all_items(request):
        covered |= elements.covered_by(item)
    missing = [e for e in elements.elements(target.qapi) if e not in covered
               and features.element_feature(e) not in features.MIGBENCH_NOT_BUILT
               and not features.internal_reason(e)]
    assert not missing, f"{len(missing)} schema elements have no test: {missing}"


def test_covers_claims_are_exercised(target, request):
    """A claim is exercised when the traffic of at least one passing instance of the test
    function showed one of the elements it stands for (of the served schema)."""
    served = set(elements.elements(target.qapi))
    groups = {}
    for item in request.session.items:
        if getattr(item, "mb_passed", False):
            key = (item.path, item.originalname)
            observed, names = groups.setdefault(key, (set(), {}))
            observed |= item.mb_observed
            for name, ids in elements.claims(item):
                names[name] = ids
    bad = []
    for (path, func), (observed, names) in sorted(groups.items()):
        for name, ids in sorted(names.items()):
            ids = set(ids) & served
            if ids and not ids & observed:
                bad.append(f"{path.name}::{func} claims {name}")
    assert not bad, "covers claims never seen in the QMP traffic:\n  " + "\n  ".join(bad)


def test_every_transition_was_taken(target, request):
    from conftest import full_run
    if not full_run(request.session):
        pytest.skip("only a run of the whole suite takes every transition")
    missing = []
    for edge in statemachine.all_edges(target.version):
        key = f"{edge[0]}:{edge[1]}>{edge[2]}"
        if edge in statemachine.SEEN or key in target.untriggerable:
            continue
        if statemachine.edge_feature(edge) in target.missing:
            continue
        missing.append(key)
    assert not missing, f"transitions no test took: {missing}"
