"""`settle_heap`: a started process freezes its long-lived objects; a test process never does."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared.service import settle_heap
from shared.settings import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_started_process_freezes_what_is_alive(unfrozen: None) -> None:
    kept = [object() for _ in range(1000)]
    settle_heap(Settings(env="development"))
    assert gc.get_freeze_count() >= len(kept)


def test_a_test_process_is_left_alone(unfrozen: None) -> None:
    settle_heap(Settings(env="test"))
    assert gc.get_freeze_count() == 0
