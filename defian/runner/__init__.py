"""Executing the book: profiles, the papermill runner and its checks.

Modules:
    profiles: the parameters of every profile (smoke, cpu, short, full), in one place.
    book: ``defian book``: execute the notebooks under a profile, then build the site.
    hessian_checks: the numerical checks of notebooks 01-02 (closed form vs eigen-solver).
"""

from __future__ import annotations

from defian.runner.profiles import PROFILES as PROFILES

__all__ = ["PROFILES"]
