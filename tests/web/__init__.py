"""The web dashboard: a package, so that its conftest.py does not shadow the root one."""
