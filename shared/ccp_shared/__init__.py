"""Code both ccp services share: configuration, storage schema, migrations and record types."""

__version__ = "0.1.0"
