"""Packaging: everything is in pyproject.toml except this one mapping, which ships the
project's default containers, fixtures and scenarios as package data (harness._defaults),
so an installed harness runs without a checkout."""

from setuptools import find_packages, setup

DEFAULTS = ("containers", "fixtures", "scenarios")

setup(
    packages=[*find_packages(include=["harness*"]), *(f"harness._defaults.{d}" for d in DEFAULTS)],
    package_dir={"": ".", **{f"harness._defaults.{d}": d for d in DEFAULTS}},
    package_data={
        "harness.report.ladder": ["static/*.css", "static/*.js"],
        **{f"harness._defaults.{d}": ["**/*"] for d in DEFAULTS},
    },
)
