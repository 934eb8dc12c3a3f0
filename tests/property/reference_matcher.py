"""A deliberately simple reference matcher: price-time priority by linear scans.

It knows nothing of funds, fees or stops. Each market keeps one plain list of resting
orders; the best maker is found by scanning for the minimum of (price priority, arrival
counter), so there is no cleverness to get wrong. It implements (product.md section 2):

- LIMIT orders GTC / IOC / FOK, and post-only (rejected if it would take);
- MARKET orders sized by quantity (fill what the book has, expire the rest);
- cancel, and amend: reducing the quantity at the same price keeps time priority, a new
  price or a larger quantity moves the order to the back of its level, where it may
  cross and fill at the makers' prices;
- self-trade prevention, decided by the taker's mode: NONE trades with itself,
  EXPIRE_TAKER expires the taker, EXPIRE_MAKER expires each own resting order met and
  goes on, EXPIRE_BOTH expires the first own resting order met and the taker;
- FOK fills completely or does nothing; its fillability respects STP (own orders are
  skipped under EXPIRE_MAKER, and block the fill under EXPIRE_TAKER / EXPIRE_BOTH).

Every command returns its outcomes as plain tuples, in the order they happen:
("accepted", id), ("trade", maker id, taker id, price, quantity, maker remaining,
taker remaining), ("filled", id), ("expired", id, reason), ("cancelled", id),
("amended", id, priority kept), ("rejected", code).
"""

from dataclasses import dataclass

BUY, SELL = "BUY", "SELL"

Outcome = tuple[object, ...]


@dataclass
class RefOrder:
    id: int
    user: str
    market: str
    side: str
    price: int
    quantity: int
    remaining: int
    post_only: bool
    stp: str
    arrival: int


class ReferenceMatcher:
    def __init__(self, default_stp: dict[str, str]) -> None:
        self.default_stp = default_stp
        self.resting: dict[str, list[RefOrder]] = {market: [] for market in default_stp}
        self.next_id = 1
        self.arrivals = 0

    # -- queries ---------------------------------------------------------------------

    def book(self, market: str, side: str) -> list[tuple[int, list[int]]]:
        """(price, FIFO ids) per level, best price first."""
        orders = sorted((o for o in self.resting[market] if o.side == side), key=self._priority)
        levels: list[tuple[int, list[int]]] = []
        for order in orders:
            if levels and levels[-1][0] == order.price:
                levels[-1][1].append(order.id)
            else:
                levels.append((order.price, [order.id]))
        return levels

    def depth(self, market: str, side: str) -> list[tuple[int, int]]:
        return [
            (price, sum(o.remaining for o in self.resting[market] if o.id in ids))
            for price, ids in self.book(market, side)
        ]

    # -- commands --------------------------------------------------------------------

    def place_limit(
        self,
        user: str,
        market: str,
        side: str,
        price: int,
        quantity: int,
        tif: str,
        post_only: bool = False,
        stp: str | None = None,
    ) -> list[Outcome]:
        if post_only and tif != "GTC":
            return [("rejected", "INVALID_ORDER")]
        if post_only and self._best_crossing(market, side, price) is not None:
            return [("rejected", "POST_ONLY_WOULD_TAKE")]
        taker = self._new_order(user, market, side, price, quantity, post_only, stp)
        out: list[Outcome] = [("accepted", taker.id)]
        if tif == "FOK" and not self._fok_fillable(taker):
            out.append(("expired", taker.id, "FOK_NOT_FILLABLE"))
            return out
        stopped = self._match(taker, price, out)
        self._conclude(taker, tif, stopped, out)
        return out

    def place_market(
        self, user: str, market: str, side: str, quantity: int, stp: str | None = None
    ) -> list[Outcome]:
        taker = self._new_order(user, market, side, 0, quantity, False, stp)
        out: list[Outcome] = [("accepted", taker.id)]
        stopped = self._match(taker, None, out)
        if taker.remaining == 0:
            out.append(("filled", taker.id))
        else:
            out.append(("expired", taker.id, stopped or "NO_LIQUIDITY"))
        return out

    def cancel(self, user: str, order_id: int) -> list[Outcome]:
        order = self._find(user, order_id)
        if order is None:
            return [("rejected", "ORDER_NOT_FOUND")]
        self.resting[order.market].remove(order)
        return [("cancelled", order.id)]

    def amend(self, user: str, order_id: int, price: int | None, quantity: int | None) -> list[Outcome]:
        order = self._find(user, order_id)
        if order is None:
            return [("rejected", "ORDER_NOT_FOUND")]
        new_price = order.price if price is None else price
        new_quantity = order.quantity if quantity is None else quantity
        filled = order.quantity - order.remaining
        if (new_price, new_quantity) == (order.price, order.quantity) or new_quantity <= filled:
            return [("rejected", "INVALID_ORDER")]
        keeps_priority = new_price == order.price and new_quantity < order.quantity
        if (
            not keeps_priority
            and order.post_only
            and self._best_crossing(order.market, order.side, new_price) is not None
        ):
            return [("rejected", "POST_ONLY_WOULD_TAKE")]
        out: list[Outcome] = [("amended", order.id, keeps_priority)]
        order.quantity, order.remaining = new_quantity, new_quantity - filled
        if keeps_priority:
            return out
        # Loses its place: out of the book, in again as a taker at the back of the queue.
        self.resting[order.market].remove(order)
        order.price = new_price
        self.arrivals += 1
        order.arrival = self.arrivals
        stopped = self._match(order, new_price, out)
        self._conclude(order, "GTC", stopped, out)
        return out

    # -- matching --------------------------------------------------------------------

    def _new_order(
        self, user: str, market: str, side: str, price: int, quantity: int, post_only: bool, stp: str | None
    ) -> RefOrder:
        self.arrivals += 1
        order = RefOrder(
            id=self.next_id,
            user=user,
            market=market,
            side=side,
            price=price,
            quantity=quantity,
            remaining=quantity,
            post_only=post_only,
            stp=stp or self.default_stp[market],
            arrival=self.arrivals,
        )
        self.next_id += 1
        return order

    @staticmethod
    def _priority(order: RefOrder) -> tuple[int, int]:
        return (-order.price if order.side == BUY else order.price, order.arrival)

    def _crossing(self, market: str, side: str, limit: int | None) -> list[RefOrder]:
        """Resting orders a taker on `side` with `limit` (None: any price) can meet, best first."""
        makers = [
            o
            for o in self.resting[market]
            if o.side != side and (limit is None or (o.price <= limit if side == BUY else o.price >= limit))
        ]
        return sorted(makers, key=self._priority)

    def _best_crossing(self, market: str, side: str, limit: int) -> RefOrder | None:
        makers = self._crossing(market, side, limit)
        return makers[0] if makers else None

    def _fok_fillable(self, taker: RefOrder) -> bool:
        need = taker.remaining
        for maker in self._crossing(taker.market, taker.side, taker.price):
            if maker.user == taker.user and taker.stp != "NONE":
                if taker.stp == "EXPIRE_MAKER":
                    continue
                return False
            need -= maker.remaining
            if need <= 0:
                return True
        return False

    def _match(self, taker: RefOrder, limit: int | None, out: list[Outcome]) -> str | None:
        """Fill `taker` from the best makers; returns "SELF_TRADE_PREVENTION" if STP ended it."""
        mode = taker.stp
        while taker.remaining > 0:
            maker = next(iter(self._crossing(taker.market, taker.side, limit)), None)
            if maker is None:
                return None
            if maker.user == taker.user and mode != "NONE":
                if mode in ("EXPIRE_MAKER", "EXPIRE_BOTH"):
                    self.resting[maker.market].remove(maker)
                    out.append(("expired", maker.id, "SELF_TRADE_PREVENTION"))
                if mode in ("EXPIRE_TAKER", "EXPIRE_BOTH"):
                    return "SELF_TRADE_PREVENTION"
                continue
            quantity = min(maker.remaining, taker.remaining)
            maker.remaining -= quantity
            taker.remaining -= quantity
            out.append(("trade", maker.id, taker.id, maker.price, quantity, maker.remaining, taker.remaining))
            if maker.remaining == 0:
                self.resting[maker.market].remove(maker)
                out.append(("filled", maker.id))
        return None

    def _conclude(self, taker: RefOrder, tif: str, stopped: str | None, out: list[Outcome]) -> None:
        if taker.remaining == 0:
            out.append(("filled", taker.id))
        elif stopped:
            out.append(("expired", taker.id, stopped))
        elif tif == "GTC":
            self.resting[taker.market].append(taker)
        else:
            out.append(("expired", taker.id, "IOC_REMAINDER"))

    def _find(self, user: str, order_id: int) -> RefOrder | None:
        for orders in self.resting.values():
            for order in orders:
                if order.id == order_id and order.user == user:
                    return order
        return None
