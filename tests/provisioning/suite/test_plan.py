"""`silo test`'s planning: what is missing and what the machine allows -> which commands."""

from __future__ import annotations

import pytest

from provisioning.suite.plan import (
    NODE_PACKAGES,
    NPM_CI,
    Machine,
    Plan,
    node_packages_current,
    plan,
)

EVERYTHING = ["clamd", "node", "chromium", NODE_PACKAGES]
APT_INSTALL = ("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y")
APT_INSTALL += ("--no-install-recommends",)
DEBIAN_PACKAGES = ("clamav-daemon", "nodejs", "npm", "chromium", "chromium-driver")


def test_nothing_missing_runs_nothing():
    assert plan([], Machine(apt=True, root=True)) == Plan()
    assert not plan([], Machine()).blocked  # even where nothing could be installed


def test_stale_node_packages_need_only_npm_ci_and_no_privilege():
    assert plan([NODE_PACKAGES], Machine()) == Plan(run=NPM_CI)


def test_debian_as_root_one_update_one_install_then_npm_ci():
    assert plan(EVERYTHING, Machine(apt=True, root=True)).run == (
        ("apt-get", "update"),
        (*APT_INSTALL, *DEBIAN_PACKAGES),
        *NPM_CI,
    )


def test_new_node_gets_its_packages_even_if_they_were_not_listed_missing():
    assert plan(["node"], Machine(apt=True, root=True)).run == (
        ("apt-get", "update"),
        (*APT_INSTALL, "nodejs", "npm"),
        *NPM_CI,
    )


def test_debian_with_passwordless_sudo_prefixes_sudo_n():
    assert plan(["clamd"], Machine(apt=True, sudo=True)).run == (
        ("sudo", "-n", "apt-get", "update"),
        ("sudo", "-n", *APT_INSTALL, "clamav-daemon"),
    )


def test_debian_without_root_or_sudo_says_what_to_run():
    todo = plan(["clamd", "chromium", NODE_PACKAGES], Machine(apt=True))
    assert todo.blocked and not todo.run
    assert todo.manual == (
        "sudo apt-get update",
        "sudo apt-get install -y --no-install-recommends clamav-daemon chromium chromium-driver",
        "npm ci --prefix tests/tus_js --no-audit --no-fund",
        "npm ci --prefix tests/uppy --no-audit --no-fund",
        "npm ci --prefix tests/ts_client --no-audit --no-fund",
    )
    assert "sudo -n" in todo.reason


def test_macos_uses_homebrew_formulae_and_casks():
    assert plan(EVERYTHING, Machine(brew=True)).run == (
        ("brew", "install", "clamav", "node"),
        ("brew", "install", "--cask", "chromium", "chromedriver"),
        *NPM_CI,
    )
    assert plan(["chromium"], Machine(brew=True)).run == (
        ("brew", "install", "--cask", "chromium", "chromedriver"),
    )


def test_homebrew_as_root_is_refused_with_the_commands_to_run():
    todo = plan(["clamd"], Machine(brew=True, root=True))
    assert todo.blocked and todo.manual == ("brew install clamav",)
    assert "root" in todo.reason


def test_no_package_manager_names_what_to_install():
    todo = plan(["clamd", NODE_PACKAGES], Machine(root=True))
    assert todo.blocked
    assert todo.manual[0].startswith("install ClamAV's daemon")
    assert todo.manual[1] == "npm ci --prefix tests/tus_js --no-audit --no-fund"
    assert "apt-get" in todo.reason and "Homebrew" in todo.reason


def test_an_unknown_need_is_a_programming_error():
    with pytest.raises(ValueError, match="postgresql"):
        plan(["postgresql"], Machine(apt=True, root=True))


LOCK = {
    "lockfileVersion": 3,
    "packages": {
        "": {"name": "silo-tus-js-test", "dependencies": {"tus-js-client": "^4.3.1"}},
        "node_modules/tus-js-client": {"version": "4.3.1"},
        "node_modules/js-base64": {"version": "3.7.7"},
    },
}


def installed(**versions: str) -> dict:
    return {"packages": {f"node_modules/{n}": {"version": v} for n, v in versions.items()}}


def test_node_packages_are_current_when_node_modules_holds_the_locked_versions():
    current = installed(**{"tus-js-client": "4.3.1", "js-base64": "3.7.7"})
    assert node_packages_current(LOCK, current)
    assert not node_packages_current(LOCK, None)  # never installed
    assert not node_packages_current(LOCK, installed(**{"tus-js-client": "4.3.1"}))
    old = installed(**{"tus-js-client": "4.2.0", "js-base64": "3.7.7"})
    assert not node_packages_current(LOCK, old)
