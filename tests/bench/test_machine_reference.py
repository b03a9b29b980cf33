"""What every benchmark prints about the machine, so that figures from machines of one
kind can be compared: the CPU's cores (physical ones where hardware threads share them)
and a reference workload's speed on one core and with every core busy."""

from __future__ import annotations

from edgewatch import machine
from edgewatch.bench.tracking import cpu_reference, print_cpu_reference

# /proc/cpuinfo of a 2-core box with two hardware threads a core (4 logical CPUs).
SMT_CPUINFO = """\
processor\t: 0
physical id\t: 0
core id\t\t: 0
processor\t: 1
physical id\t: 0
core id\t\t: 1
processor\t: 2
physical id\t: 0
core id\t\t: 0
processor\t: 3
physical id\t: 0
core id\t\t: 1
""".splitlines()


def test_physical_cores_count_each_core_once(monkeypatch):
    monkeypatch.setattr(machine, "_cpuinfo", lambda: SMT_CPUINFO)
    assert machine.physical_cores() == 2
    two_packages = SMT_CPUINFO + ["physical id\t: 1", "core id\t\t: 0"]
    monkeypatch.setattr(machine, "_cpuinfo", lambda: two_packages)
    assert machine.physical_cores() == 3  # core 0 of the second package is another core


def test_the_machine_line_names_physical_cores_only_where_threads_share_them(monkeypatch):
    monkeypatch.setattr(machine, "_cpuinfo", lambda: SMT_CPUINFO)
    monkeypatch.setattr(machine.os, "cpu_count", lambda: 4)
    assert "(2 physical)" in machine.describe_machine()
    monkeypatch.setattr(machine.os, "cpu_count", lambda: 2)
    assert "physical" not in machine.describe_machine()
    monkeypatch.setattr(machine, "_cpuinfo", lambda: [])  # cpuinfo says nothing
    assert "physical" not in machine.describe_machine()


def test_the_cpu_reference_times_one_core_and_every_core(capsys):
    figures = cpu_reference(seconds=0.3)
    assert figures["cores"] >= 1
    # Milliseconds a frame for 8 tracked objects: well above zero, far below a frame's time.
    assert 0.01 < figures["one_core_ms"] < 20
    assert 0.01 < figures["all_cores_ms"] < 20
    assert figures["slowdown"] == round(figures["all_cores_ms"] / figures["one_core_ms"], 2)
    print_cpu_reference(figures)
    line = capsys.readouterr().out
    assert f"with all {figures['cores']} cores busy" in line
    assert f"({figures['slowdown']:.2f}x)" in line
