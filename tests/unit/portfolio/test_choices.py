"""The choices the command line offers without loading the allocators are the allocators' own."""

from __future__ import annotations

from logos.portfolio.allocators import ALLOCATORS
from logos.portfolio.choices import ALLOCATOR_NAMES, Schedule
from logos.portfolio.walk_forward import Schedule as WalkForwardSchedule


def test_allocator_names_when_compared_with_the_registry_then_the_same() -> None:
    assert sorted(ALLOCATOR_NAMES) == sorted(ALLOCATORS)


def test_schedule_when_imported_from_the_walk_forward_then_the_same_enum() -> None:
    assert WalkForwardSchedule is Schedule and [s.value for s in Schedule] == ["daily", "weekly", "monthly"]
