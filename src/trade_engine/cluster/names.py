"""The names one cluster uses on NATS: streams, subjects, the lease bucket.

Everything starts with `cluster.name`, so several clusters can share one NATS system.
Subjects (docs/cluster.md lists them with their message formats):

- `<name>.cmd`: commands, gateways to the core (stream `<NAME>_COMMANDS`);
- `<name>.out.<node>`: outcomes, the core to the gateway that sent the command;
- `<name>.batch`: every committed batch, in order (stream `<NAME>_EVENTS`), what the
  gateways' read models follow; `<name>.market.<symbol>`: a market's events with its
  own sequence numbers; `<name>.user.<user>`: a user's events and balances with the
  global sequence number (both in `<NAME>_EVENTS` too, for downstream consumers);
- `<name>.journal`: each committed batch's journal entry (stream `<NAME>_JOURNAL`),
  what the standby core applies;
- `<name>.core.position`: request/reply, the active core's committed position;
- `<name>.core.step_down`: request/reply, asks the active core to hand over;
- `<name>.revoked`: revoked API keys, gateway to gateway;
- `_INBOX.<name>.<role>.>`: the replies and push deliveries a process of that role
  receives (JetStream acknowledgements, its consumers' messages, request replies).
  One prefix per role, so that NATS permissions (deploy/nats-users.conf) let no role
  read another's: a gateway's consumer delivers every committed batch to its inbox.
"""

from dataclasses import dataclass
from typing import Literal

from trade_engine.config import ClusterConfig

Role = Literal["core", "gateway", "downstream"]

# Headers on the cluster's messages.
MSG_ID = "Nats-Msg-Id"  # JetStream de-duplication
REPLY = "Te-Reply"  # a command's outcome subject
KEY = "Te-Key"  # a command's submission key, echoed on its outcome
EPOCH = "Te-Epoch"  # the epoch of the core that published a message
FIRST_SEQ = "Te-First-Seq"  # a batch's first global sequence number
LAST_SEQ = "Te-Last-Seq"  # a batch's last global sequence number


def token(text: str) -> str:
    """`text` as one subject token: kept if it is plain, else hex (with an `x` first)."""
    if text and all(c.isalnum() or c in "-_" for c in text) and text.isascii():
        return text
    return "x" + text.encode().hex()


@dataclass(frozen=True)
class Names:
    prefix: str

    @classmethod
    def of(cls, config: ClusterConfig) -> "Names":
        return cls(config.name)

    @property
    def commands_stream(self) -> str:
        return f"{self.prefix.upper()}_COMMANDS"

    @property
    def events_stream(self) -> str:
        return f"{self.prefix.upper()}_EVENTS"

    @property
    def journal_stream(self) -> str:
        return f"{self.prefix.upper()}_JOURNAL"

    @property
    def lease_bucket(self) -> str:
        return f"{self.prefix}_leader"

    @property
    def commands(self) -> str:
        return f"{self.prefix}.cmd"

    def outcomes(self, node: str) -> str:
        return f"{self.prefix}.out.{token(node)}"

    @property
    def batches(self) -> str:
        return f"{self.prefix}.batch"

    @property
    def journal(self) -> str:
        return f"{self.prefix}.journal"

    def market(self, symbol: str) -> str:
        return f"{self.prefix}.market.{token(symbol)}"

    def user(self, user_id: str) -> str:
        return f"{self.prefix}.user.{token(user_id)}"

    @property
    def position(self) -> str:
        return f"{self.prefix}.core.position"

    @property
    def step_down(self) -> str:
        return f"{self.prefix}.core.step_down"

    def inbox(self, role: Role) -> str:
        return f"_INBOX.{self.prefix}.{role}"

    @property
    def revoked(self) -> str:
        return f"{self.prefix}.revoked"
