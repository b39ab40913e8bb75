"""Golden regression: fixed sim guests x parameter sets, whole results checked in
(conformance/golden/).  Each case runs `migbench run ARGS --check golden/NAME.json`; a
difference fails with migbench's own report and the differing fields.  Regenerate on
purpose with `python3 conformance/golden.py --regen` (docs/conformance.md)."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import golden  # noqa: E402  (conformance/golden.py)

pytestmark = pytest.mark.sim_only("golden results are sim runs of migbench")


@pytest.fixture
def binary(target, pytestconfig):
    if target.schema != "5.0":
        pytest.skip("golden cases carry their own guest and schema: they run once, under "
                    "the default target (migbench, sim, 5.0)")
    return pytestconfig.getoption("--migbench")


@pytest.mark.parametrize("case", golden.cases(), ids=lambda c: c["name"])
def test_golden_result(binary, case):
    problems = golden.check(binary, case)
    assert not problems, "\n".join(problems)


def test_every_golden_file_has_a_case():
    names = {c["name"] for c in golden.cases()}
    files = {f[:-5] for f in os.listdir(golden.GOLDEN)
             if f.endswith(".json") and f != "cases.json" and not f.endswith(".scenario.json")}
    assert files == names, f"orphans {files - names}, missing {names - files}"


def test_field_diff_is_readable():
    """The diff golden.py prints names each differing field with both values."""
    want = {"result": {"status": "completed", "passes": [{"pass": 1}, {"pass": 2}]}}
    got = {"result": {"status": "failed", "passes": [{"pass": 1}], "extra": 1}}
    assert golden.field_diff(want, got) == [
        "result.extra: new (1)",
        "result.passes[1]: missing now",
        'result.status: golden "completed", now "failed"']
