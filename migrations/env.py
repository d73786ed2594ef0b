"""Alembic environment: migrates the database the caller configured (``worker.migrate`` sets the URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from models import Base
from worker.broadcast.partitions import PREFIX as PARTITION_PREFIX

config = context.config
target_metadata = Base.metadata


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Leave the per-announcement partitions of deliveries (and their indexes) out of the model
    comparison: they are created at run time (worker/broadcast/partitions.py), not by the models."""
    table = getattr(getattr(obj, "table", None), "name", None) if type_ == "index" else name
    return not (table or "").startswith(PARTITION_PREFIX)


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(str(config.get_main_option("sqlalchemy.url")), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
