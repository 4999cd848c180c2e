"""Code both ccp services share: configuration, storage schema, migrations and record types."""

# The one place the version is written: pyproject reads it (tool.setuptools.dynamic) and both
# services report it in /health.
__version__ = "0.1.0"
