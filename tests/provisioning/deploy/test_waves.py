import pytest

from provisioning.deploy.waves import plan_waves

SLUGS = [f"t{n:03d}" for n in range(1, 121)]


def test_a_canary_then_growing_waves_then_the_rest():
    waves = plan_waves(SLUGS)
    assert [len(w) for w in waves] == [1, 5, 25, 89]
    assert waves[0] == ["t001"]
    assert [s for w in waves for s in w] == SLUGS


def test_the_chosen_canary_goes_first_and_only_once():
    waves = plan_waves(SLUGS, canary="t050")
    assert waves[0] == ["t050"]
    flat = [s for w in waves for s in w]
    assert sorted(flat) == sorted(SLUGS) and len(flat) == len(SLUGS)


def test_few_tenants_make_few_waves():
    assert plan_waves(["a", "b", "c"]) == [["a"], ["b", "c"]]
    assert plan_waves(["a"]) == [["a"]]
    assert plan_waves([]) == []
    assert plan_waves(list("abcdefg"), sizes=(1, 2)) == [["a"], ["b", "c"], list("defg")]


def test_an_unknown_canary_or_a_bad_size_is_refused():
    with pytest.raises(ValueError, match="canary"):
        plan_waves(["a"], canary="z")
    with pytest.raises(ValueError, match="at least 1"):
        plan_waves(["a"], sizes=(0,))
