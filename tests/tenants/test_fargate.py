from tenants.fargate import VALID_MEMORY, memory_problem


def test_documented_pairs_are_valid():
    for cpu, memory in [(256, 512), (256, 2048), (512, 4096), (1024, 2048), (4096, 30720)]:
        assert memory_problem(cpu, memory) is None, (cpu, memory)
    assert VALID_MEMORY[8192][1] - VALID_MEMORY[8192][0] == 4096


def test_invalid_pairs_say_what_is_valid():
    assert "valid: 512, 1024, 2048" in memory_problem(256, 4096)
    assert "2048-8192 in steps of 1024" in memory_problem(1024, 1024)
    assert "not a Fargate size" in memory_problem(300, 512)
