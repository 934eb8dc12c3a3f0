"""The three units of the engine's integers, as types the checker keeps apart.

Every amount inside the engine is an `int` counted in one of three units (docs/engine.md,
section 2):

- `Ticks`: a price, in the market's tick size;
- `Lots`: a quantity, in the market's quantity step;
- `Minor`: an amount of one asset (balances, holds, fees, notionals), in its minor unit.

They are `NewType`s of `int`: nothing at run time (mypyc compiles `Ticks(x)` to `x`,
msgspec encodes them as plain integers), distinct to mypy, so passing a price where a
quantity is expected is a type error. Arithmetic on them gives plain `int`; a result
becomes a unit again only where the code names it, which is where a market's conversion
factor has been applied: `Minor(lots * price * quote_per_tick_lot)`.

Commands keep plain `int` fields: the edges build them from decimal strings, and the
engine's order rules are where their numbers become ticks, lots and minor units.
"""

from typing import NewType

Ticks = NewType("Ticks", int)
Lots = NewType("Lots", int)
Minor = NewType("Minor", int)
