"""The noise study's variants: the baseline, and one variable changed in each (docs/METHOD.md,
Noise). Declared as data: what each changes, and whether that changes what is measured."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from lab.stack.knobs import NoiseKnobs
from lab.stack.topology import IMPLS


class Effect(Enum):
    """What a variant does to the measurement, beyond removing a source of noise."""

    NONE = "none"  # the system measured is the same: a mitigation the suite may adopt
    DURABILITY = "durability"  # diagnosis only: acknowledged writes could be lost
    CORES = "cores"  # diagnosis only: the stack gets fewer cores


@dataclass(frozen=True)
class Variant:
    name: str
    what: str  # one line for the table
    effect: Effect
    knobs: NoiseKnobs = NoiseKnobs()  # the stack's options (lab.stack.knobs)
    quiesce: bool = False  # CHECKPOINT + VACUUM before each step (benchmarks/noise/quiesce.py)
    pin_generator: bool = False  # the generator on one core
    isolate_stack: bool = False  # the stack on the other cores
    # The generator in the lab's session at its priority, as the suite ran it before it was
    # prioritized (benchmarks/load/priority.py): what the priority removes.
    shared_generator: bool = False
    impls: tuple[str, ...] = IMPLS  # the implementations it applies to

    @property
    def diagnosis_only(self) -> bool:
        return self.effect is not Effect.NONE


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("baseline", "the stack as the suite runs it", Effect.NONE),
        Variant(
            "sync-commit-off",
            "PostgreSQL synchronous_commit=off",
            Effect.DURABILITY,
            knobs=NoiseKnobs(synchronous_commit_off=True),
        ),
        Variant(
            "bus-memory",
            "JetStream event stream in memory",
            Effect.DURABILITY,
            knobs=NoiseKnobs(bus_memory_storage=True),
            impls=("async",),  # sync has no bus
        ),
        Variant(
            "quiesce", "CHECKPOINT + VACUUM (ANALYZE) before each step", Effect.NONE, quiesce=True
        ),
        Variant(
            "gc-freeze",
            "gc.freeze() after start-up in every service",
            Effect.NONE,
            knobs=NoiseKnobs(gc_freeze=True),
        ),
        Variant("pin-generator", "the generator on one core", Effect.NONE, pin_generator=True),
        Variant(
            "shared-generator",
            "the generator in the lab's session at its priority (the suite before #20)",
            Effect.NONE,
            shared_generator=True,
        ),
        Variant(
            "isolate-generator",
            "the generator on one core, the stack on the others",
            Effect.CORES,
            pin_generator=True,
            isolate_stack=True,
        ),
    )
}


def effect_label(effect: Effect) -> str:
    return {
        Effect.NONE: "measures the same system",
        Effect.DURABILITY: "diagnosis only: changes durability",
        Effect.CORES: "diagnosis only: the stack loses the generator's core",
    }[effect]
